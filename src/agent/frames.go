package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
)

// Frames as in src/driver/channel/frames.ts: [u8 type][u32 big-endian length][payload].
const (
	frameHeaderBytes = 5
	maxFrameBytes    = 64 * 1024 * 1024

	frameHello   = 1
	frameControl = 2
	frameOutput  = 3
)

type frame struct {
	kind    byte
	payload []byte
}

// readFrame reads one whole frame; a length over the limit is an error (a garbage or hostile peer).
func readFrame(r io.Reader) (frame, error) {
	var header [frameHeaderBytes]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return frame{}, err
	}
	length := binary.BigEndian.Uint32(header[1:])
	if length > maxFrameBytes {
		return frame{}, fmt.Errorf("frame of %d bytes exceeds the limit", length)
	}
	payload := make([]byte, length)
	if _, err := io.ReadFull(r, payload); err != nil {
		return frame{}, err
	}
	return frame{kind: header[0], payload: payload}, nil
}

func encodeFrame(kind byte, payload []byte) []byte {
	out := make([]byte, frameHeaderBytes+len(payload))
	out[0] = kind
	binary.BigEndian.PutUint32(out[1:], uint32(len(payload)))
	copy(out[frameHeaderBytes:], payload)
	return out
}

func encodeJSONFrame(kind byte, value any) []byte {
	body, err := json.Marshal(value)
	if err != nil {
		panic(err) // only our own message structs are encoded
	}
	return encodeFrame(kind, body)
}

// outputFrame is a whole Output frame allocated once, so file data is read straight into it:
// [3][u32 length][u8 stepId length][stepId][data].
type outputFrame struct {
	buffer     []byte
	dataOffset int
}

func newOutputFrame(stepID string, maxData int) *outputFrame {
	dataOffset := frameHeaderBytes + 1 + len(stepID)
	buffer := make([]byte, dataOffset+maxData)
	buffer[0] = frameOutput
	buffer[frameHeaderBytes] = byte(len(stepID))
	copy(buffer[frameHeaderBytes+1:], stepID)
	return &outputFrame{buffer: buffer, dataOffset: dataOffset}
}

// data is where the next read goes.
func (f *outputFrame) data() []byte { return f.buffer[f.dataOffset:] }

// finish fills in the header for n data bytes and returns the frame to send.
func (f *outputFrame) finish(n int) []byte {
	binary.BigEndian.PutUint32(f.buffer[1:], uint32(f.dataOffset-frameHeaderBytes+n))
	return f.buffer[:f.dataOffset+n]
}
