package state

import (
	"fmt"
	"sync"
	"testing"
)

// The hot path of a day's delivery: Plan of a page of 300 rows, then the Ack of its 300
// events, on one account, and on 100 accounts at once (each its own pull). ns/op is per
// page; commits/op the fsynced transactions per page.
func BenchmarkPlanAck(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("accounts=%d", n), func(b *testing.B) {
			stores, commits, done := benchStores(b, n)
			defer done()
			pulls := make([]*Pull, n)
			for i, s := range stores {
				p, err := s.Pull("instance", day)
				if err != nil {
					b.Fatal(err)
				}
				pulls[i] = p
			}
			before := commits()
			b.ResetTimer()
			var wg sync.WaitGroup
			for i, p := range pulls {
				pages := b.N / n
				if i < b.N%n {
					pages++
				}
				wg.Go(func() {
					for page := range pages {
						if err := planAckPage(p, page); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(commits()-before)/float64(b.N), "commits/op")
		})
	}
}

func planAckPage(p *Pull, page int) error {
	rows := make(map[string]Row, 300)
	acks := make([]Ack, 0, 300)
	for j := range 300 {
		id := fmt.Sprintf("instance-%08d-%03d", page, j)
		ev := fmt.Sprintf("%032x", page*1000+j)
		rows[id] = Row{Hash: "0123456789abcdef0123456789abcdef", ID: ev, Revision: 1}
		acks = append(acks, Ack{Identity: id, ID: ev})
	}
	if err := p.Plan(rows); err != nil {
		return err
	}
	return p.Ack(acks)
}
