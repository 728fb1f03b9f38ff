# DCSO - Flor
# Copyright (c) 2016, 2017, DCSO GmbH. All rights reserved.

from .filter import BloomFilter
from .fnv import fnv_1, fnv_1a