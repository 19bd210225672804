package state

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/cloudbill/alicloud-billing-source/connector/calendar"
)

func TestOpener_OpensOnStartAndClosesOnStop(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	lc := fxtest.NewLifecycle(t)
	s := NewOpener(lc, Options{}).At(path)
	require.NotNil(t, s)
	require.ErrorIs(t, s.SetSince(day), errNotOpen)

	lc.RequireStart()
	require.NoError(t, s.SetSince(day))
	_, err := openAtOnce(t, path)
	require.ErrorIs(t, err, ErrLocked)

	lc.RequireStop()
	other, err := openAtOnce(t, path)
	require.NoError(t, err)
	since, ok, err := other.Since()
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, day, since)
	require.NoError(t, other.Close())
}

func TestModule_ConstructorFailingAfterTheStateLeavesItUnlocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	app := fx.New(
		fx.NopLogger,
		fx.Supply(Options{}),
		Module,
		fx.Invoke(func(op *Opener) error {
			op.At(path)
			return errors.New("--date is in the future")
		}),
	)
	require.Error(t, app.Err())
	s, err := openAtOnce(t, path)
	require.NoError(t, err, "fx runs no OnStop after a failed constructor: nothing may hold the lock")
	require.NoError(t, s.Close())
}

func TestModule_StartFailsWithTheOneLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	hold, err := Open(path, false)
	require.NoError(t, err)
	defer hold.Close()
	app := fxtest.New(t, fx.Supply(Options{}), Module, fx.Invoke(func(op *Opener) { op.At(path) }))
	err = app.Start(t.Context())
	var se *Error
	require.ErrorAs(t, err, &se)
	assert.ErrorIs(t, err, ErrLocked)
}

var testDay = calendar.Day{Year: 2026, Month: 11, Day: 3}

func TestOpener_ReadOnlyWithoutAFileIsAnEmptyStoreThatWritesNothing(t *testing.T) {
	lc := fxtest.NewLifecycle(t)
	path := filepath.Join(t.TempDir(), "missing.db")
	s := NewOpener(lc, Options{ReadOnly: true}).At(path)
	require.NotNil(t, s)
	lc.RequireStart()
	p, err := s.Pull("account", testDay)
	require.NoError(t, err)
	known, err := p.Known([]string{"a", "b"})
	require.NoError(t, err)
	assert.Equal(t, []Known{{}, {}}, known)
	assert.Error(t, p.Plan(map[string]Row{"a": {Hash: "h", ID: "i", Revision: 1}}))
	ok, err := s.Complete(testDay, "account", "instance")
	require.NoError(t, err)
	assert.False(t, ok)
	lc.RequireStop()
	assert.NoFileExists(t, path)
}

func TestModule_GraphIsComplete(t *testing.T) {
	require.NoError(t, fx.ValidateApp(fx.Supply(Options{}), Module, fx.Invoke(func(*Opener) {})))
}
