package imager

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/matchmeta/matchmeta/db/progress"
)

// Example EBS direct API prices (USD, us-east-1, 2026); every region has
// its own, so they are flags.
const (
	DefaultGetPricePer1000  = 0.003
	DefaultListPricePer1000 = 0.0006
)

// BudgetOptions configure Budget.
type BudgetOptions struct {
	Snapshot string
	// Prices in USD: per 1,000 GetSnapshotBlock calls, per 1,000 list
	// calls, and per GiB transferred (0 inside the region; set the
	// internet egress rate when downloading outside AWS).
	GetPrice, ListPrice, TransferPricePerGiB float64
	PageSize                                 int32
	Timeout                                  time.Duration
	Progress                                 *progress.Tracker `json:"-"`
}

// Budget is what an acquisition will cost, from one listing pass.
type Budget struct {
	Snapshot      string  `json:"snapshot"`
	VolumeSizeGiB int64   `json:"volume_size_gib"`
	BlockSize     int64   `json:"block_size"`
	ListedBlocks  int64   `json:"listed_blocks"`
	GetCalls      int64   `json:"get_snapshot_block_calls"`
	ListCalls     int64   `json:"list_calls"`
	DownloadBytes int64   `json:"download_bytes"`
	VolumeBytes   int64   `json:"volume_bytes"`
	CostUSD       float64 `json:"estimated_cost_usd"`
	GetPrice      float64 `json:"get_price_per_1000"`
	ListPrice     float64 `json:"list_price_per_1000"`
	TransferPrice float64 `json:"transfer_price_per_gib"`
}

// EstimateBudget lists the snapshot once and estimates the acquisition: one
// GetSnapshotBlock per listed block and two listing passes (an
// acquisition lists once to count and once to download).
func EstimateBudget(ctx context.Context, api API, o BudgetOptions) (*Budget, error) {
	if o.Snapshot == "" {
		return nil, errors.New("imager: no snapshot id")
	}
	if o.GetPrice < 0 || o.ListPrice < 0 || o.TransferPricePerGiB < 0 {
		return nil, errors.New("imager: prices cannot be negative")
	}
	ao := AcquireOptions{Snapshot: o.Snapshot, Out: ".", PageSize: o.PageSize, Timeout: o.Timeout, Progress: o.Progress}
	if err := ao.defaults(); err != nil {
		return nil, err
	}
	a := &acq{api: api, o: ao, pol: retryPolicy{retries: ao.Retries, base: ao.BackoffBase, max: ao.BackoffMax}}
	a.list = snapshotLister(api, o.Snapshot)
	o.Progress.Phase("list", "blocks")
	if err := a.listAll(ctx); err != nil {
		return nil, err
	}
	pages := a.lists.Load() - a.retries.Load()
	b := &Budget{Snapshot: o.Snapshot, VolumeSizeGiB: a.geo.VolumeGiB, BlockSize: a.geo.BlockSize,
		ListedBlocks: a.nlisted, GetCalls: a.nlisted, ListCalls: 2 * pages,
		DownloadBytes: a.nlisted * a.geo.BlockSize, VolumeBytes: a.geo.Bytes(),
		GetPrice: o.GetPrice, ListPrice: o.ListPrice, TransferPrice: o.TransferPricePerGiB}
	b.CostUSD = float64(b.GetCalls)/1000*o.GetPrice + float64(b.ListCalls)/1000*o.ListPrice +
		float64(b.DownloadBytes)/(1<<30)*o.TransferPricePerGiB
	return b, nil
}

// WriteText prints the budget the way Snapshot 4n6ir Imager's --budget
// does (API quantity, download size, volume size), with the cost.
func (b *Budget) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "Snapshot:\t%s\nAPI quantity:\t%d GetSnapshotBlock + %d list calls\nDownload size:\t%s (%d blocks of %d bytes)\nVolume size:\t%d GiB\nEstimated cost:\tUSD %.4f (GetSnapshotBlock %.4f/1000, list %.4f/1000, transfer %.4f/GiB)\n",
		b.Snapshot, b.GetCalls, b.ListCalls, humanBytes(b.DownloadBytes), b.ListedBlocks, b.BlockSize,
		b.VolumeSizeGiB, b.CostUSD, b.GetPrice, b.ListPrice, b.TransferPrice)
	return err
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.2f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
