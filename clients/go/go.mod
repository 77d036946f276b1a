module github.com/keyway/keyway/clients/go

go 1.21
