// Package api holds the protobuf definitions of obkv's wire protocol (obkv.proto) and the Go code
// generated from them (obkv.pb.go, obkv_grpc.pb.go, committed), plus ServeStream, the serving
// side of KV.Stream shared by the observer and test fakes (stream.go). Regenerate after editing the
// .proto file with
//
//	go generate ./api
//
// which needs protoc (Debian: apt-get install protobuf-compiler) and the two plugins:
//
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@latest
//	go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@latest
package api

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative obkv.proto
