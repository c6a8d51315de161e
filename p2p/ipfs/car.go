package ipfs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	chunk "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/boxo/verifcid"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	carstorage "github.com/ipld/go-car/v2/storage"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/encoding/protowire"
)

// ProtoCAR streams a whole DAG in one request: the requester sends the
// root's CID, the provider answers with a status byte and, when it holds the
// root, the DAG as a CARv1 (https://ipld.io/specs/transport/car/carv1/)
// whose blocks come in the order dagOrder defines. Bitswap asks for each
// DAG level after the previous one arrived and paces its messages to a peer
// 20 ms apart; one stream pays one round trip for the whole file.
//
// A CAR on a libp2p stream rather than boxo's trustless gateway over
// libp2p HTTP: the same CARv1 bytes without an HTTP layer, and the provider
// answers "not held" before sending anything.
const ProtoCAR protocol.ID = "/faasedge/car/1.0.0"

// The provider's first byte.
const (
	carOK         byte = iota // the CAR follows
	carNotHeld                // the provider does not hold the root
	carBusy                   // too many streams from this peer or in all
	carBadRequest             // the request was not a CID
)

const (
	// maxBlockSize is the bitswap spec's block limit: no honest DAG has a
	// larger block, so none is read.
	maxBlockSize = chunk.BlockSizeLimit
	// maxCIDLen bounds a CID in a request or a CAR section: version,
	// codec, hash code and length varints and a 64-byte digest.
	maxCIDLen = 128
	// maxCARHeader bounds the CAR header, which holds one root.
	maxCARHeader = 1 << 10
	// maxStreamBlocks bounds the blocks of one stream, beside its bytes:
	// the requester keeps a few dozen bytes per block it expects, more
	// than a tiny block counts towards the fetch limit. 64 Ki blocks are a
	// 16 GiB file in Kubo's 256 KiB chunks; a DAG of more is left to
	// bitswap.
	maxStreamBlocks = 1 << 16
	// maxCARStreamsPerPeer and maxCARStreams bound the DAGs a provider
	// streams at once to one peer and to all.
	maxCARStreamsPerPeer = 4
	maxCARStreams        = 64
)

// DefaultStreamIdle is how long either side of a CAR stream waits for the
// other to read or send anything before it cuts the stream.
const DefaultStreamIdle = 5 * time.Second

// The reasons a stream fetch fails; Fetch then falls back to bitswap.
var (
	ErrNotHeld    = errors.New("peer does not hold the DAG")
	ErrBusy       = errors.New("peer is serving too many DAGs")
	ErrUnexpected = errors.New("block not expected next in the DAG")
	ErrTooLarge   = errors.New("DAG larger than the fetch limit")
	ErrStalled    = errors.New("peer stalled")
	ErrMalformed  = errors.New("malformed CAR stream")
)

// dagOrder is the order in which a CAR stream carries a DAG, so that the
// requester can check each block it receives against the one it expects:
// depth first, links in their order, each CID once (at its first
// occurrence). Only dag-pb and raw blocks are walked: UnixFS files are
// nothing else.
type dagOrder struct {
	stack []cid.Cid
	seen  map[string]struct{}
	dups  int // links to a block already sent, skipped
}

func newDAGOrder(root cid.Cid) *dagOrder {
	return &dagOrder{stack: []cid.Cid{root}, seen: map[string]struct{}{}}
}

// next is the CID of the next block; false when the DAG is complete.
func (o *dagOrder) next() (cid.Cid, bool) {
	for len(o.stack) > 0 {
		c := o.stack[len(o.stack)-1]
		o.stack = o.stack[:len(o.stack)-1]
		if _, dup := o.seen[c.KeyString()]; dup {
			o.dups++
			continue
		}
		o.seen[c.KeyString()] = struct{}{}
		return c, true
	}
	return cid.Undef, false
}

// visit queues the links of b, the block next returned last, and returns
// b decoded (nil for a raw block).
func (o *dagOrder) visit(b blocks.Block) (*merkledag.ProtoNode, error) {
	switch b.Cid().Prefix().Codec {
	case cid.Raw:
		return nil, nil
	case cid.DagProtobuf:
		nd, err := merkledag.DecodeProtobuf(b.RawData())
		if err != nil {
			return nil, fmt.Errorf("block %s: %w", b.Cid(), err)
		}
		links := nd.Links()
		for i := len(links) - 1; i >= 0; i-- {
			o.stack = append(o.stack, links[i].Cid)
		}
		return nd, nil
	default:
		return nil, fmt.Errorf("block %s: codec %#x is neither dag-pb nor raw", b.Cid(), b.Cid().Prefix().Codec)
	}
}

// fileBuilder puts a UnixFS file together from its blocks as they arrive
// in dagOrder, where a node's own bytes come before its children's, so a
// streamed file is not read back from the store. It gives up on what the
// order does not make plain (a block linked twice, which the stream
// carries once; a node that is not a file; sizes that disagree), and the
// file is then read from the store by boxo's reader, which says what is
// wrong, if anything.
type fileBuilder struct {
	buf   []byte
	size  uint64 // what the root says; raw root: its length
	limit int64
	ok    bool
}

func (f *fileBuilder) add(b blocks.Block, nd *merkledag.ProtoNode) {
	if !f.ok {
		return
	}
	data := b.RawData()
	if nd != nil {
		typ, fileData, size, ok := unixfsNode(nd.Data())
		if !ok || (typ != uint64(unixfs.TFile) && typ != uint64(unixfs.TRaw)) {
			f.ok = false
			return
		}
		if f.buf == nil {
			f.size = size
		}
		data = fileData
	} else if f.buf == nil {
		f.size = uint64(len(data))
	}
	if f.buf == nil {
		if f.size > uint64(f.limit) {
			f.ok = false
			return
		}
		f.buf = make([]byte, 0, f.size)
	}
	if uint64(len(f.buf)+len(data)) > f.size {
		f.ok = false
		return
	}
	f.buf = append(f.buf, data...)
}

// unixfsNode reads the Type, Data and filesize fields of a UnixFS node in
// place: boxo's decoder (unixfs.FSNodeFromBytes) copies every leaf's bytes,
// which cost a fifth of a stream's time. Other fields are skipped; ok is
// false when the bytes are not a protobuf message with a Type.
func unixfsNode(b []byte) (typ uint64, data []byte, size uint64, ok bool) {
	hasType := false
	for len(b) > 0 {
		num, wt, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, nil, 0, false
		}
		b = b[n:]
		switch {
		case num == 1 && wt == protowire.VarintType:
			typ, n = protowire.ConsumeVarint(b)
			hasType = true
		case num == 2 && wt == protowire.BytesType:
			data, n = protowire.ConsumeBytes(b)
		case num == 3 && wt == protowire.VarintType:
			size, n = protowire.ConsumeVarint(b)
		default:
			n = protowire.ConsumeFieldValue(num, wt, b)
		}
		if n < 0 {
			return 0, nil, 0, false
		}
		b = b[n:]
	}
	return typ, data, size, hasType
}

// file is the whole file, or nil if the builder gave up.
func (f *fileBuilder) file(o *dagOrder) []byte {
	if !f.ok || o.dups > 0 || f.buf == nil || uint64(len(f.buf)) != f.size {
		return nil
	}
	return f.buf
}

// carSlots bounds the CAR streams a provider serves at once.
type carSlots struct {
	mu     sync.Mutex
	total  int
	byPeer map[peer.ID]int
}

func (s *carSlots) acquire(p peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.total >= maxCARStreams || s.byPeer[p] >= maxCARStreamsPerPeer {
		return false
	}
	if s.byPeer == nil {
		s.byPeer = map[peer.ID]int{}
	}
	s.total++
	s.byPeer[p]++
	return true
}

func (s *carSlots) release(p peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total--
	if s.byPeer[p]--; s.byPeer[p] == 0 {
		delete(s.byPeer, p)
	}
}

// serveCAR is the provider's side of ProtoCAR. It serves only blocks in the
// local store: it never fetches for a requester, so a DAG it holds in part
// is streamed up to the first missing block and the requester completes it
// elsewhere.
func (n *Node) serveCAR(s network.Stream) {
	from := s.Conn().RemotePeer()
	if !n.carSlots.acquire(from) {
		_, _ = s.Write([]byte{carBusy})
		_ = s.Close()
		return
	}
	defer n.carSlots.release(from)
	if err := n.streamCAR(s); err != nil {
		n.log.Debug("ipfs: CAR stream", "peer", from, "err", err)
		_ = s.Reset()
		return
	}
	_ = s.Close()
}

func (n *Node) streamCAR(s network.Stream) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A requester that stops reading is cut at the next write's deadline.
	idle := deadlineConn{s, n.streamIdle}
	_ = s.SetReadDeadline(time.Now().Add(n.streamIdle))
	root, err := readCARRequest(bufio.NewReaderSize(io.LimitReader(s, maxCIDLen+binary.MaxVarintLen64), 64))
	if err != nil {
		_, _ = idle.Write([]byte{carBadRequest})
		return err
	}
	if has, err := n.store.Has(ctx, root); err != nil || !has {
		_, err = idle.Write([]byte{carNotHeld})
		return err
	}
	w := bufio.NewWriterSize(idle, 32<<10)
	if err := w.WriteByte(carOK); err != nil {
		return err
	}
	if err := n.writeCAR(ctx, w, root); err != nil {
		// A block not held (or a write that failed): the requester sees
		// the DAG end short and completes it elsewhere.
		n.log.Debug("ipfs: CAR stream cut short", "cid", root, "err", err)
	}
	return w.Flush()
}

// writeCAR writes the DAG under root as a CARv1 in dagOrder, from the local
// store only: at the first block not here, it stops with an error.
func (n *Node) writeCAR(ctx context.Context, w io.Writer, root cid.Cid) error {
	car, err := carstorage.NewWritable(w, []cid.Cid{root}, carv2.WriteAsCarV1(true),
		carv2.AllowDuplicatePuts(true), carv2.StoreIdentityCIDs(true))
	if err != nil {
		return err
	}
	order := newDAGOrder(root)
	for c, ok := order.next(); ok; c, ok = order.next() {
		b, err := n.store.Get(ctx, c)
		if err != nil {
			return fmt.Errorf("block %s: %w", c, err)
		}
		if err := car.Put(ctx, c.KeyString(), b.RawData()); err != nil {
			return err
		}
		if _, err := order.visit(b); err != nil {
			return err
		}
	}
	return nil
}

// readCARRequest reads the root CID a requester sends: a varint length
// and the CID's bytes.
func readCARRequest(r *bufio.Reader) (cid.Cid, error) {
	l, err := binary.ReadUvarint(r)
	if err != nil {
		return cid.Undef, fmt.Errorf("CAR request: %w", err)
	}
	if l == 0 || l > maxCIDLen {
		return cid.Undef, fmt.Errorf("CAR request: CID of %d bytes", l)
	}
	buf := make([]byte, l)
	if _, err := io.ReadFull(r, buf); err != nil {
		return cid.Undef, fmt.Errorf("CAR request: %w", err)
	}
	return cid.Cast(buf)
}

// deadlineConn sets a deadline of idle from now before every read and
// write, so a peer that stalls is cut after idle whatever the total time.
type deadlineConn struct {
	s    network.Stream
	idle time.Duration
}

func (d deadlineConn) Read(p []byte) (int, error) {
	_ = d.s.SetReadDeadline(time.Now().Add(d.idle))
	return d.s.Read(p)
}

func (d deadlineConn) Write(p []byte) (int, error) {
	_ = d.s.SetWriteDeadline(time.Now().Add(d.idle))
	return d.s.Write(p)
}

// streamStats is what one stream delivered.
type streamStats struct {
	blocks int
	bytes  int64
	file   []byte // the whole file, when the stream made it plain
}

// streamDAG fetches the DAG under root from p over ProtoCAR into the local
// store. Every block is checked against its CID, and must be the one
// dagOrder expects next, before it is stored; the blocks stored before a
// failure are kept, so a fallback fetches only the rest.
func (n *Node) streamDAG(ctx context.Context, p peer.ID, root cid.Cid, limit int64) (streamStats, error) {
	s, err := n.host.NewStream(ctx, p, ProtoCAR)
	if err != nil {
		return streamStats{}, err
	}
	defer s.Reset() //nolint:errcheck // after Close it does nothing
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	conn := deadlineConn{s, n.streamIdle}
	req := binary.AppendUvarint(nil, uint64(root.ByteLen()))
	if _, err := conn.Write(append(req, root.Bytes()...)); err != nil {
		return streamStats{}, err
	}
	if err := s.CloseWrite(); err != nil {
		return streamStats{}, err
	}
	var batch []blocks.Block
	var batchBytes int
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := n.store.PutMany(ctx, batch)
		batch, batchBytes = batch[:0], 0
		return err
	}
	file := fileBuilder{limit: limit, ok: true}
	order := newDAGOrder(root)
	st, err := readDAG(conn, order, limit, func(b blocks.Block, nd *merkledag.ProtoNode) error {
		file.add(b, nd)
		batch = append(batch, b)
		if batchBytes += len(b.RawData()); batchBytes >= 1<<20 {
			return flush()
		}
		return nil
	})
	if ferr := flush(); err == nil {
		err = ferr
	}
	var timeout interface{ Timeout() bool }
	switch {
	case err == nil:
	case ctx.Err() != nil:
		err = fmt.Errorf("%w: %w", ctx.Err(), err)
	case errors.As(err, &timeout) && timeout.Timeout():
		err = fmt.Errorf("%w: nothing received for %v: %w", ErrStalled, n.streamIdle, err)
	}
	if err == nil {
		_ = s.Close()
		st.file = file.file(order)
	}
	return st, err
}

// readDAG reads a ProtoCAR answer for order's root from r and hands each
// block to put, in order, once it is checked: its CID is the one dagOrder
// expects next and a hash boxo accepts, the blocks' bytes stay within
// limit, and its bytes hash to its CID. Nothing is allocated beyond
// verifyAhead+2 blocks of maxBlockSize before these checks. It returns when
// the DAG is complete; what follows is not read. Errors from r come back as
// they are; what r delivered but is wrong wraps ErrMalformed,
// ErrUnexpected, ErrHashMismatch or ErrTooLarge. A caller whose r may
// block ends it (resets the stream) when readDAG returns.
//
// Blocks are hashed on this goroutine while the next ones are read on
// another: SHA-256 costs about as much as the transfer. The links that
// say which block comes next are read from a block before its hash is
// checked, but nothing below it is handed on unless it is.
func readDAG(r io.Reader, order *dagOrder, limit int64, put func(blocks.Block, *merkledag.ProtoNode) error) (streamStats, error) {
	items := make(chan readItem, verifyAhead)
	done := make(chan struct{})
	defer close(done)
	var readErr error
	go func() {
		defer close(items)
		readErr = readBlocks(r, order, limit, func(it readItem) bool {
			select {
			case items <- it:
				return true
			case <-done:
				return false
			}
		})
	}()
	var st streamStats
	for it := range items {
		want := it.b.Cid()
		if sum, err := want.Prefix().Sum(it.b.RawData()); err != nil || !sum.Equals(want) {
			return st, fmt.Errorf("%w: block %s", ErrHashMismatch, want)
		}
		st.blocks++
		st.bytes += int64(len(it.b.RawData()))
		if err := put(it.b, it.nd); err != nil {
			return st, err
		}
	}
	return st, readErr // items is closed: readErr is set
}

// verifyAhead is how many blocks read may wait for their hash check.
const verifyAhead = 4

// readItem is a block read, not yet hashed, and its decoded node.
type readItem struct {
	b  blocks.Block
	nd *merkledag.ProtoNode
}

// readBlocks is readDAG's reading half: it checks everything but the
// hashes and hands each block to send, until the DAG is complete, send
// refuses, or something is wrong.
func readBlocks(r io.Reader, order *dagOrder, limit int64, send func(readItem) bool) error {
	root := order.stack[0]
	src := &recordingReader{r: r}
	br := bufio.NewReaderSize(src, 256<<10)
	// malformed tells what r failed with from what it delivered wrong.
	malformed := func(format string, args ...any) error {
		err := fmt.Errorf(format, args...)
		if src.err != nil && !errors.Is(src.err, io.EOF) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	status, err := br.ReadByte()
	if err != nil {
		return fmt.Errorf("no answer: %w", err)
	}
	switch status {
	case carOK:
	case carNotHeld:
		return ErrNotHeld
	case carBusy:
		return ErrBusy
	default:
		return fmt.Errorf("%w: status %d", ErrMalformed, status)
	}
	// CARv2 is a CARv1 behind a header and padding that the reader would
	// skip without bound; the protocol carries CARv1 only.
	if head, _ := br.Peek(carv2.PragmaSize); bytes.Equal(head, carv2.Pragma) {
		return fmt.Errorf("%w: CAR version 2, want 1", ErrMalformed)
	}
	// Blocks are hashed by readDAG, against the CID expected rather than
	// the one they came with.
	car, err := carv2.NewBlockReader(br, carv2.MaxAllowedHeaderSize(maxCARHeader),
		carv2.MaxAllowedSectionSize(uint64(maxBlockSize+maxCIDLen)), carv2.WithTrustedCAR(true))
	if err != nil {
		return malformed("CAR header: %w", err)
	}
	if car.Version != 1 || len(car.Roots) != 1 || !car.Roots[0].Equals(root) {
		return fmt.Errorf("%w: CAR version %d roots %v, want version 1 root %s", ErrMalformed, car.Version, car.Roots, root)
	}
	var total int64
	var count int
	for want, ok := order.next(); ok; want, ok = order.next() {
		if err := verifcid.ValidateCid(verifcid.DefaultAllowlist, want); err != nil {
			return fmt.Errorf("%w: block %s: %w", ErrUnexpected, want, err)
		}
		if count++; count > maxStreamBlocks {
			return fmt.Errorf("%w: more than %d blocks", ErrTooLarge, maxStreamBlocks)
		}
		b, err := car.Next()
		switch {
		case errors.Is(err, io.EOF):
			return fmt.Errorf("truncated DAG: the stream ended before block %s: %w", want, io.ErrUnexpectedEOF)
		case err != nil:
			return malformed("block %s: %w", want, err)
		case !b.Cid().Equals(want):
			return fmt.Errorf("%w: got %s, want %s", ErrUnexpected, b.Cid(), want)
		}
		if total += int64(len(b.RawData())); total > limit {
			return fmt.Errorf("%w of %d bytes", ErrTooLarge, limit)
		}
		nd, err := order.visit(b)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if !send(readItem{b, nd}) {
			return nil
		}
	}
	return nil
}

// recordingReader keeps the error its reader returned, so that a decoding
// failure can be told from a transport one.
type recordingReader struct {
	r   io.Reader
	err error
}

func (r *recordingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil {
		r.err = err
	}
	return n, err
}
