package send

import (
	"context"
	"errors"

	"github.com/dc2dc/dc2dc/handlers/arango/client"
)

type noDialer struct{}

func (noDialer) DBServer(context.Context, string) (*client.Conn, error) {
	return nil, errors.New("no DB-Servers in this test")
}
