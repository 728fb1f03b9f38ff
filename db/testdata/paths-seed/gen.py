# Hashes made with the seed's own normalization (MatchMeta.Info v2 post),
# for the interop test in db/path_test.go.
import hashlib
def norm(path, unix):
    if path[:1] == '/':
        out = path.split('/')
        if out[1] == 'home':
            out[2] = unix
            path = '/'.join(out)
    elif path[1] == ':':
        new = list(path)
        new[0] = 'C'
        path = (''.join(new))
        out = path.split('\\')
        if out[1] == 'Users' or out[1] == 'Documents and Settings':
            out[2] = 'Administrator'
            path = '\\'.join(out)
    return path, hashlib.sha256(path.encode()).hexdigest().upper()
rows = [
 (r'C:\Users\Administrator','WIN2K16','Administrator'),
 ('/home/ubuntu','UBUNTU18','ubuntu'),
 (r'C:\Users\Administrator\NTUSER.DAT','WIN2K3','Administrator'),
 ('/home/ubuntu/.ssh/authorized_keys','UBUNTU14','ubuntu'),
 (r'D:\Users\John\NTUSER.DAT','WIN2K12','Administrator'),
 ('/home/john/.ssh/authorized_keys','AMZN2','ec2-user'),
 ('/home/john/.bashrc','DEB9','admin'),
 ('/home/john/.bash_profile','CENTOS7','centos'),
 (r'E:\Documents and Settings\jdoe\NTUSER.DAT','WIN2K3','Administrator'),
 (r'C:\Windows\System32\svchost.exe','WIN2K8','Administrator'),
 (r'c:\Windows\System32\drivers\etc\hosts','WIN2K16','Administrator'),
 ('/etc/passwd','SUSE15','ec2-user'),
 ('/root/.bashrc','RHEL7','ec2-user'),
 ('/home/jöhn/ü.txt','CENTOS6','centos'),
 (r'C:\Users\Jöhn\Desktop\naïve.txt','WIN2K16','Administrator'),
]
print("# input\tprofile\tnormalized\tsha256 (seed script, Python hashlib)")
for p, prof, u in rows:
    n, h = norm(p, u)
    print(f"{p}\t{prof}\t{n}\t{h}")
