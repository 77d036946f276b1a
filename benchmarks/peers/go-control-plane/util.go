package main

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/proto"
)

type corev3Node = corev3.Node

func protoUnmarshal(b []byte, m proto.Message) error { return proto.Unmarshal(b, m) }
