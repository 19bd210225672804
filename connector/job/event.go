package job

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"

	"github.com/cloudbill/alicloud-billing-source/connector/bill"
	"github.com/cloudbill/alicloud-billing-source/connector/config"
)

// Source is the events' source, as the seed shows it. Their type is the bill's
// (bill.Kind.EventType).
const Source = bill.Source

// idNamespace is the UUID namespace of event ids (a fixed random UUID of this project).
var idNamespace = uuid.MustParse("6f1c8a52-3b0e-4a57-9a7e-2f4d0c9b1e63")

// Body is a row's event data and its content hash: a hash of everything the data says.
func Body(r bill.Row) (body []byte, hash string, err error) {
	body, err = r.AppendData(nil)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(body)
	return body, hex.EncodeToString(sum[:16]), nil
}

// EventID is a name-based (SHA-1, version 5) UUID of the row's identity, content and
// revision: the same content of the same row with the same revision gives the same id on
// every run. Revision 1 (the first content of a row under the counting of earlier releases)
// leaves the revision out of the name, so the ids those recorded stay as they were.
func EventID(identity string, body []byte, revision int) string {
	// uuid.NewSHA1(idNamespace, name) with name = identity, 0, body[, "\x00rev<revision>"],
	// hashed as it goes: the name is as long as the event's data, once per event.
	h := sha1.New()
	h.Write(idNamespace[:])
	h.Write([]byte(identity))
	h.Write([]byte{0})
	h.Write(body)
	if revision > 1 {
		h.Write(strconv.AppendInt([]byte("\x00rev"), int64(revision), 10))
	}
	var id uuid.UUID
	copy(id[:], h.Sum(make([]byte, 0, sha1.Size)))
	id[6] = id[6]&0x0f | 0x50 // version 5 (RFC 4122 4.3)
	id[8] = id[8]&0x3f | 0x80 // the RFC 4122 variant
	return id.String()
}

// Subject is the row's stable identity as the CloudEvents subject: receivers upsert by it.
// The row's readable parts first, then a short hash of the full identity.
func Subject(r bill.Row, identity string) string {
	sum := sha256.Sum256([]byte(identity))
	return strings.Join(append(r.SubjectParts(), hex.EncodeToString(sum[:6])), "/")
}

// RevisionExtension is the CloudEvents extension that orders a row's contents: each new
// content of a subject carries a higher revision than the ones before, taken from the time
// of the pull that first planned it (NextRevision), so it keeps growing when the state is
// lost. The same content keeps its revision. Revisions are not consecutive.
const RevisionExtension = "revision"

// RetractedExtension is the CloudEvents extension that marks a retraction: true on the
// event that says a row delivered before is no longer in its day's bill. It has the row's
// type and subject, the next revision, and as data the row with every amount 0 (see
// bill.Retraction). Other events do not carry it.
const RetractedExtension = "retracted"

// AccountExtension is the CloudEvents extension that names the account a row is from: the
// name of its entry in accounts, "default" for the one account of a config without them.
const AccountExtension = "account"

// newEvent builds a row's event. The rows of an account other than "default" are told apart
// from the same rows of another account: the account's name is part of the id's name and
// of the subject's hash, and leads the subject (payer/2026-11-20/ecs/...). The default
// account's ids and subjects are those of a config without accounts, as they always were.
func newEvent(account string, r bill.Row, identity string, body []byte, revision int, pulled time.Time) event.Event {
	subject := ""
	if account != config.DefaultAccount {
		identity = account + "\x00" + identity
		subject = account + "/"
	}
	e := event.New(event.CloudEventsVersionV1)
	e.SetID(EventID(identity, body, revision))
	e.SetSource(Source)
	e.SetType(r.Kind().EventType())
	e.SetSubject(subject + Subject(r, identity))
	e.SetExtension(RevisionExtension, revision)
	e.SetExtension(AccountExtension, account)
	e.SetTime(pulled)
	e.DataEncoded = body
	e.SetDataContentType(event.ApplicationJSON)
	return e
}
