package sender

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/binding/spec"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
)

// EncodingError is an event that binary mode cannot carry over v_target's protocol: one of
// its attributes has a value the binding cannot represent (bytes that are not UTF-8, or a
// character a Content-Type header cannot hold). It fails that event only, at once: no
// retry, and it says nothing about the receiver (the circuit breaker does not count it).
// Structured mode (send_mode "structured") carries any UTF-8 value in the JSON body.
type EncodingError struct {
	Binding   string // "HTTP", "NATS" or "Kafka"
	Attribute string // the CloudEvents attribute, "" for the event as a whole
	Problem   string
}

func (e *EncodingError) Error() string {
	if e.Attribute == "" {
		return fmt.Sprintf("event not sent: %s binary mode cannot carry it: %s", e.Binding, e.Problem)
	}
	return fmt.Sprintf("event not sent: %s binary mode cannot carry attribute %q: %s", e.Binding, e.Attribute, e.Problem)
}

// headerCodec turns an attribute's canonical string into what one binding puts in its
// header, or says why it cannot (a problem that is not "").
type headerCodec struct {
	binding string
	value   func(contentType bool, s string) (string, string)
}

// The CloudEvents bindings' rules for attribute values in binary mode.
var (
	// HTTP 3.1.3.2 (http-protocol-binding 1.0.2): every ce- header value percent-encoded.
	// datacontenttype is HTTP's own Content-Type header: a media type, never encoded.
	httpCodec = headerCodec{binding: "HTTP", value: func(contentType bool, s string) (string, string) {
		if contentType {
			return s, contentTypeProblem(s)
		}
		return percentEncode(s)
	}}
	// NATS 3.1.3.2 (nats-protocol-binding): the same percent-encoding as HTTP for every
	// ce- header, ce-datacontenttype included (NATS headers are MIME-style lines: a CR
	// or LF would end the header, and nats.go turns them into spaces).
	natsCodec = headerCodec{binding: "NATS", value: func(_ bool, s string) (string, string) {
		return percentEncode(s)
	}}
	// Kafka 3.2.3 (kafka-protocol-binding): header values are UTF-8 strings, carried as
	// length-prefixed bytes: any UTF-8 goes as it is.
	kafkaCodec = headerCodec{binding: "Kafka", value: func(_ bool, s string) (string, string) {
		if !utf8.ValidString(s) {
			return s, "it is not valid UTF-8"
		}
		return s, ""
	}}
)

// percentEncode encodes space, double-quote, percent and every byte outside printable
// ASCII (U+0021..U+007E) as %XX of its UTF-8 bytes, upper-case: the rule of the HTTP and
// NATS bindings (a receiver decodes it with one round of percent-decoding). A value that
// is not UTF-8 cannot be represented: the receiver must reject it.
func percentEncode(s string) (string, string) {
	const hex = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(s); i++ {
		if mustEscape(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s, ""
	}
	if !utf8.ValidString(s) {
		return s, "it is not valid UTF-8"
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		if c := s[i]; mustEscape(c) {
			b = append(b, '%', hex[c>>4], hex[c&15])
		} else {
			b = append(b, c)
		}
	}
	return string(b), ""
}

func mustEscape(c byte) bool { return c <= ' ' || c == '"' || c == '%' || c >= 0x7f }

// contentTypeProblem checks a value for an HTTP Content-Type header: visible ASCII, spaces
// and tabs (RFC 9110 field-value without obs-text).
func contentTypeProblem(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c >= 0x7f {
			return fmt.Sprintf("byte 0x%02X at %d cannot be in a Content-Type header", c, i)
		}
	}
	return ""
}

// binaryMessage is an event in binary mode whose attribute values pass through a binding's
// codec before the binding's writer (the SDK's HTTP or NATS writer, kafkaRecordWriter)
// gets them: the SDK v2.16.2 writers put them in headers as they are.
type binaryMessage struct {
	*binding.EventMessage
	codec headerCodec
}

// encodeBinary is the message the transport writes: e itself in structured mode, e with
// its attributes encoded for the binding in binary mode.
func encodeBinary(e *event.Event, binary bool, c headerCodec) binding.Message {
	if !binary {
		return binding.ToMessage(e)
	}
	return binaryMessage{EventMessage: (*binding.EventMessage)(e), codec: c}
}

// ReadEncoding says binary: binding.Write then writes it with the binary writer directly.
func (m binaryMessage) ReadEncoding() binding.Encoding { return binding.EncodingBinary }

func (m binaryMessage) ReadStructured(context.Context, binding.StructuredWriter) error {
	return binding.ErrNotStructured
}

func (m binaryMessage) ReadBinary(ctx context.Context, w binding.BinaryWriter) error {
	return m.EventMessage.ReadBinary(ctx, codecWriter{BinaryWriter: w, codec: m.codec})
}

// codecWriter encodes each attribute's value before the binding's writer sets it. A value
// the codec leaves as it is goes as it came (a time.Time stays one: the SDK's NATS writer
// formats it itself).
type codecWriter struct {
	binding.BinaryWriter
	codec headerCodec
}

func (w codecWriter) SetAttribute(a spec.Attribute, value any) error {
	v, err := w.encode(a.Name(), a.Kind() == spec.DataContentType, value)
	if err != nil {
		return err
	}
	return w.BinaryWriter.SetAttribute(a, v)
}

func (w codecWriter) SetExtension(name string, value any) error {
	v, err := w.encode(name, false, value)
	if err != nil {
		return err
	}
	return w.BinaryWriter.SetExtension(name, v)
}

func (w codecWriter) encode(name string, contentType bool, value any) (any, error) {
	if value == nil {
		return nil, nil
	}
	s, err := types.Format(value)
	if err != nil {
		return nil, &EncodingError{Binding: w.codec.binding, Attribute: name, Problem: err.Error()}
	}
	out, problem := w.codec.value(contentType, s)
	if problem != "" {
		return nil, &EncodingError{Binding: w.codec.binding, Attribute: name, Problem: problem}
	}
	if out == s {
		return value, nil
	}
	return out, nil
}
