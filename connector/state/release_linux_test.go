//go:build linux

package state

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A scan of a day reads every page of the day's rows. Each page it faults in, the kernel
// maps with its neighbours (fault-around, 64 KB), and a day's pages are spread over the
// file (rows are keyed by identity, written in the bill's order), so the pages in the
// resident set between two hand-backs are many times the pages read. A day of 200,000
// rows scanned with 4,096 rows between hand-backs peaked at 30 MB of the file resident
// (the connector's whole budget is 40 MB); with scanRelease rows it stays near 1 MB (1,024 rows: 2.2 MB). The
// writes before the scan leave much of this file mapped: the scan hands that back first.
func TestScan_KeepsLittleOfTheFileResident(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	s, err := Open(path, false)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	p, err := s.Pull("instance", day)
	require.NoError(t, err)
	const rows, batch = 60_000, 3_000
	for i := 0; i < rows; i += batch {
		plan := make(map[string]Row, batch)
		for j := i; j < i+batch; j++ {
			sum := sha256.Sum256([]byte(strconv.Itoa(j)))
			id := "i-" + hex.EncodeToString(sum[:8]) + "/instance_type/" + hex.EncodeToString(sum[8:14])
			plan[id] = Row{Hash: hex.EncodeToString(sum[:]), ID: fmt.Sprintf("%032x", j), Revision: 1}
		}
		require.NoError(t, p.Plan(plan))
	}
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Greater(t, fi.Size(), int64(16<<20), "a file larger than the bound below")

	seen, peak := 0, 0
	require.NoError(t, p.scan(func(string, Row) {
		if seen++; seen%64 == 0 {
			peak = max(peak, mappedKB(t, path))
		}
	}))
	require.Equal(t, rows, seen)
	assert.Less(t, peak, 2048, "KB of the %d MB file resident during the scan", fi.Size()>>20)
}

// mappedKB is the resident part of this process's mappings of the file at path.
func mappedKB(t *testing.T, path string) int {
	f, err := os.Open("/proc/self/smaps")
	require.NoError(t, err)
	defer f.Close()
	kb, in := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		switch {
		case len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":"):
			in = len(fields) >= 6 && fields[5] == path
		case in && fields[0] == "Rss:":
			n, err := strconv.Atoi(fields[1])
			require.NoError(t, err)
			kb += n
		}
	}
	require.NoError(t, sc.Err())
	return kb
}
