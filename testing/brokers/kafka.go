package brokers

import (
	"context"
	"fmt"
	"strings"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// KafkaRecords reads every record of topic from the cluster (opts: SASL, ...): until it has
// read up to each partition's high watermark (offsets may have gaps: a batch lost in a
// broker restart leaves them).
func KafkaRecords(ctx context.Context, c *kfake.Cluster, topic string, opts ...kgo.Opt) ([]*kgo.Record, error) {
	end := map[int32]int64{} // the partitions to read, to their high watermark
	for _, p := range c.PartitionInfos(topic) {
		if p.HighWatermark > p.LogStartOffset {
			end[p.Partition] = p.HighWatermark
		}
	}
	if len(end) == 0 {
		return nil, nil
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []*kgo.Record
	for len(end) > 0 {
		f := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read %d records of %s, partitions %v not to their end: %w", len(out), topic, end, err)
		}
		for _, fe := range f.Errors() {
			return nil, fmt.Errorf("fetch %s/%d: %w", fe.Topic, fe.Partition, fe.Err)
		}
		for _, r := range f.Records() {
			out = append(out, r)
			if hw, ok := end[r.Partition]; ok && r.Offset+1 >= hw {
				delete(end, r.Partition)
			}
		}
	}
	return out, nil
}

// KafkaEvent decodes a record written in the CloudEvents Kafka protocol binding's format:
// structured (content-type application/cloudevents+json, the JSON event as the value) or
// binary (each attribute in a ce_ header, datacontenttype in content-type, the data as the
// value). structured says which it was.
func KafkaEvent(r *kgo.Record) (e event.Event, structured bool, err error) {
	headers := map[string]string{}
	for _, h := range r.Headers {
		if _, dup := headers[h.Key]; dup {
			return e, false, fmt.Errorf("header %q twice", h.Key)
		}
		headers[h.Key] = string(h.Value)
	}
	if strings.HasPrefix(headers["content-type"], "application/cloudevents+json") {
		if len(headers) != 1 {
			return e, true, fmt.Errorf("structured record with headers %v", headers)
		}
		err := e.UnmarshalJSON(r.Value)
		return e, true, err
	}
	e = event.New(headers["ce_specversion"])
	for k, v := range headers {
		switch name := strings.TrimPrefix(k, "ce_"); {
		case k == "content-type":
			e.SetDataContentType(v)
		case k == name:
			return e, false, fmt.Errorf("header %q is not of the binding", k)
		case name == "specversion":
		case name == "id":
			e.SetID(v)
		case name == "source":
			e.SetSource(v)
		case name == "type":
			e.SetType(v)
		case name == "subject":
			e.SetSubject(v)
		case name == "time":
			tm, err := types.ParseTime(v)
			if err != nil {
				return e, false, fmt.Errorf("ce_time %q: %w", v, err)
			}
			e.SetTime(tm)
		case name == "dataschema":
			e.SetDataSchema(v)
		default:
			e.SetExtension(name, v)
		}
	}
	e.DataEncoded = r.Value
	return e, false, e.Validate()
}
