import Contracts
import Foundation
import LedgerCore
import Node
import Storage
import Testing

/// Snapshots of a real chain (a genesis block with one founder, then ten blocks of two anchors and
/// an enrollment each) written from a store's view into both archives, and installed into a store
/// that holds only the same genesis block — in memory and in SQLite. A snapshot the checker or the
/// store refuses changes nothing. (The frame and statement bytes are in LedgerCoreTests'
/// SnapshotFormatTests.)
@Suite("SnapshotStore: snapshots written, installed and refused")
struct SnapshotStoreTests {
    static let chainId = "snapshot-store"
    static let sealing = IdentityKeys(seed: Array(repeating: 90, count: 32))
    static let founder = IdentityKeys(seed: Array(repeating: 91, count: 32))
    static let otherFounder = IdentityKeys(seed: Array(repeating: 92, count: 32))
    static let startMs: Int64 = 1_700_000_000_000
    /// The checkpoint: the chain's head when its snapshot is taken.
    static let checkpoint: UInt64 = 10
    /// A position handed to `install`, to see it kept.
    static let position: Int64 = 42

    struct SetupError: Error, CustomStringConvertible { let description: String }

    enum Kind: String, CaseIterable, Sendable { case memory, sqlite }

    static func genesis(founders: [IdentityKeys] = [founder], timeMs: Int64 = startMs) throws -> BlockCommit {
        try Genesis.make(chainId: chainId, founders: founders.enumerated().map { Founder(keys: $1, label: "org-\($0)", type: .hospital) },
                         ordererKeys: sealing, timeMs: timeMs).1
    }

    /// Blocks 1…11 (the chain holds 1…10; the 11th continues it): two anchors and one enrollment each, from the founder.
    static let blocks: [[Transaction]] = {
        var sequence: UInt64 = 1
        var blocks: [[Transaction]] = []
        for height in 1...11 {
            let member = IdentityKeys(seed: Array(repeating: UInt8(100 + height), count: 32))
            let calls: [any ContractMethod] = [
                AnchorContract.Put(digest: Hash256.sha256(Array("a \(height)".utf8)), kind: "test"),
                MembershipContract.Enroll(label: "member \(height)", roles: [.clinician], signingKey: member.signingPublicKey,
                                          agreementKey: member.agreementPublicKey),
                AnchorContract.Put(digest: Hash256.sha256(Array("b \(height)".utf8)), kind: "test"),
            ]
            blocks.append(calls.map { call in
                sequence += 1
                return Transaction.sign(TransactionBody(chainId: chainId, sender: founder.derivedID, publicKey: founder.signingPublicKey,
                                                        sequence: sequence, call: call), with: founder)
            })
        }
        return blocks
    }()

    /// Commits blocks `heights` (after the store's head) with every transaction accepted.
    static func commit(_ heights: ClosedRange<Int>, into store: any LedgerStore) throws {
        var writer = try DirectBlockWriter(store: store, ordererKeys: sealing)
        for height in heights {
            let committed = try writer.commit(try blocks[height - 1].map { tx throws(TransactionError) in try VerifiedTransaction.verify(tx) },
                                              timeMs: startMs + Int64(height) * 1_000)
            guard committed.header.height == UInt64(height), committed.results.allSatisfy(\.isAccepted) else {
                throw SetupError(description: "block \(height): \(committed.results.map(\.message))")
            }
        }
    }

    /// The genesis block and blocks 1…`checkpoint`.
    static func buildChain(in store: any LedgerStore) throws {
        try store.commit(try genesis())
        try commit(1...Int(checkpoint), into: store)
    }

    /// Runs `body` with an empty store of `kind`; a SQLite store's directory is removed afterwards.
    static func withStore<T>(_ kind: Kind, _ body: (any SnapshotStore) throws -> T) throws -> T {
        switch kind {
        case .memory:
            return try body(InMemoryLedgerStore())
        case .sqlite:
            let directory = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            return try body(try SQLiteLedgerStore(path: directory.appendingPathComponent("ledger.sqlite").path))
        }
    }

    static func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("careledger-snapshot-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    // MARK: snapshots

    struct Snapshot: Sendable {
        let head: BlockHeader
        let digest: Hash256
        let bytes: [UInt8]
        let frames: [SnapshotFrame]
        /// The claim a quorum would sign for it.
        var claim: CheckpointStatement.Claim { CheckpointStatement.sign(head, digest: digest, bytes: UInt64(bytes.count), attester: founder).claim }
    }

    /// Writes `view`'s snapshot into `archive`; answers it as the archive holds it.
    static func snapshot(of view: any LedgerStoreView, into archive: any SnapshotArchive = InMemorySnapshotArchive()) throws -> Snapshot {
        guard let height = try view.head()?.height else { throw SetupError(description: "the view has no head") }
        var head: BlockHeader?
        let written = try archive.write(height: height, position: position) { sink in head = try view.writeSnapshot(chainId: chainId, to: sink) }
        let held = try archive.digest(height: height)
        guard let head, held == written else { throw SetupError(description: "the archive holds \(held), wrote \(written)") }
        var frames: [SnapshotFrame] = []
        try archive.forEachFrame(height: height) { frames.append($0) }
        return Snapshot(head: head, digest: written.digest, bytes: try archive.read(height: height, offset: 0, limit: Int(written.bytes) + 1),
                        frames: frames)
    }

    static func install(_ frames: [SnapshotFrame], claim: CheckpointStatement.Claim, digest: Hash256, into store: any SnapshotStore) throws {
        try store.install(from: { sink in for frame in frames { try sink(frame) } }, checker: SnapshotChecker(chainId: chainId, claim: claim),
                          digest: digest, position: position)
    }

    static func install(_ snapshot: Snapshot, into store: any SnapshotStore) throws {
        try install(snapshot.frames, claim: snapshot.claim, digest: snapshot.digest, into: store)
    }

    /// The source chain (in memory) and its snapshot, made once for the refusal tests.
    struct Fixture: Sendable {
        let source: InMemoryLedgerStore
        let snapshot: Snapshot
    }

    static let fixture = Result { () throws -> Fixture in
        let source = InMemoryLedgerStore()
        try buildChain(in: source)
        return Fixture(source: source, snapshot: try snapshot(of: try source.view()))
    }

    // MARK: what a store holds

    struct TransactionRow: Equatable {
        let logIndex: UInt64
        let id: [UInt8]
        let leafHash: [UInt8]
        let height: UInt64
    }

    /// Everything a store's tables hold that a snapshot install writes (blocks by their heights).
    struct Contents: Equatable {
        var head: BlockHeader?
        var blocks: [RawBlock?]
        var state: [SnapshotStateEntry] = []
        var transactions: [TransactionRow] = []
        var logNodes: [MerkleFrontier.Node] = []
        var position: Int64?
        var base: SnapshotBase?
    }

    static func contents(_ store: any SnapshotStore) throws -> Contents {
        var contents = Contents(head: try store.head(), blocks: try (0...checkpoint + 1).map { try store.rawBlock(height: $0) },
                                position: try store.orderingPosition(), base: try store.snapshotBase())
        try store.forEachState { contents.state.append(SnapshotStateEntry(key: $0, value: $1, height: $2)) }
        try store.forEachTransactionEntry { contents.transactions.append(TransactionRow(logIndex: $0, id: $1, leafHash: $2, height: $3)) }
        try store.forEachLogNode { contents.logNodes.append($0) }
        return contents
    }

    // MARK: writing

    @Test(arguments: Kind.allCases)
    func theSnapshotHasTheExpectedFrames(kind: Kind) throws {
        try Self.withStore(kind) { store in
            try Self.buildChain(in: store)
            let snapshot = try Self.snapshot(of: try store.view())
            let head = try #require(try store.head())
            #expect(snapshot.head == head)
            #expect(snapshot.head.height == Self.checkpoint)
            #expect(snapshot.digest == Hash256.sha256(snapshot.bytes))
            #expect(snapshot.bytes == snapshot.frames.flatMap(\.framed))
            let contents = try Self.contents(store)
            guard case .head(let chainId, let block)? = snapshot.frames.first, case .end(let states, let transactions)? = snapshot.frames.last else {
                Issue.record("the frames are not head … end: \(snapshot.frames.count) frames")
                return
            }
            #expect(chainId == Self.chainId)
            #expect(try block == store.rawBlock(height: Self.checkpoint))
            #expect(states == UInt64(contents.state.count))
            #expect(transactions == head.logSize)
            #expect(head.logSize == 31, "one founding transaction, then ten blocks of three")
            var stateEntries: [SnapshotStateEntry] = [], transactionEntries: [SnapshotTransactionEntry] = []
            for frame in snapshot.frames.dropFirst().dropLast() {
                switch frame {
                case .state(let entries): stateEntries += entries
                case .transactions(let entries): transactionEntries += entries
                default: Issue.record("a head or end frame inside: \(frame)")
                }
            }
            #expect(stateEntries == contents.state, "the whole state, in key byte order (no private keys in this chain)")
            #expect(transactionEntries.map(\.leafHash.bytes) == contents.transactions.map(\.leafHash))
            #expect(transactionEntries.map(\.height) == contents.transactions.map(\.height))
            for entry in transactionEntries {
                #expect(try entry.result == store.location(of: entry.id)?.result.encoded)
            }
            // The checker accepts the honest snapshot.
            var checker = SnapshotChecker(chainId: Self.chainId, claim: snapshot.claim)
            for frame in snapshot.frames { try checker.check(frame) }
            #expect(checker.finished)
            #expect(checker.header == head)
            #expect(checker.log.root == head.logRoot)
        }
    }

    /// A view is one moment of the store: blocks committed after it is taken are not in its snapshot.
    @Test(arguments: Kind.allCases)
    func aViewIsAConsistentReadWhileBlocksCommit(kind: Kind) throws {
        let expected = try Self.fixture.get().snapshot
        try Self.withStore(kind) { store in
            try Self.buildChain(in: store)
            let view = try store.view()
            try Self.commit(11...11, into: store)
            #expect(try store.head()?.height == 11)
            let snapshot = try Self.snapshot(of: view)
            #expect(snapshot.head.height == Self.checkpoint)
            #expect(snapshot.digest == expected.digest)
            #expect(snapshot.bytes == expected.bytes)
        }
    }

    /// Both archives give the same bytes and digest, and so do both stores of the same chain.
    @Test func bothArchivesAndBothStoresGiveTheSameBytes() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let memory = InMemoryLedgerStore()
        try Self.buildChain(in: memory)
        let sqlite = try SQLiteLedgerStore(path: directory.appendingPathComponent("ledger.sqlite").path)
        try Self.buildChain(in: sqlite)
        // The same transactions and times give the same blocks (Ed25519 seals are deterministic).
        try #require(try memory.head() == sqlite.head())
        try #require(try memory.rawBlock(height: Self.checkpoint) == sqlite.rawBlock(height: Self.checkpoint))

        var snapshots: [(String, Snapshot)] = []
        let stores: [(String, any SnapshotStore)] = [("memory", memory), ("sqlite", sqlite)]
        for (name, store) in stores {
            let inMemory = InMemorySnapshotArchive()
            let onDisk = try DirectorySnapshotArchive(directory: directory.appendingPathComponent("archive-\(name)"))
            snapshots.append(("\(name) store, memory archive", try Self.snapshot(of: try store.view(), into: inMemory)))
            snapshots.append(("\(name) store, directory archive", try Self.snapshot(of: try store.view(), into: onDisk)))
            let archives: [any SnapshotArchive] = [inMemory, onDisk]
            for archive in archives {
                #expect(try archive.heights() == [Self.checkpoint])
                #expect(try archive.position(height: Self.checkpoint) == Self.position)
            }
            let names = try FileManager.default.contentsOfDirectory(atPath: onDisk.directory.path).sorted()
            #expect(names == ["\(Self.checkpoint).position", "\(Self.checkpoint).snapshot"], "no partial file is left")
        }
        let reference = snapshots[0].1
        #expect(reference.bytes.count > 1_000)
        for (name, snapshot) in snapshots.dropFirst() {
            #expect(snapshot.digest == reference.digest, "\(name)")
            #expect(snapshot.bytes == reference.bytes, "\(name)")
            #expect(snapshot.frames == reference.frames, "\(name)")
        }
    }

    /// What a joining node does with a snapshot from a peer: copy it in pieces, then read it back.
    @Test func aSnapshotCopiedInPiecesReadsBackTheSame() throws {
        let snapshot = try Self.fixture.get().snapshot
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = try DirectorySnapshotArchive(directory: directory.appendingPathComponent("source"))
        let view = try Self.fixture.get().source.view()
        _ = try Self.snapshot(of: view, into: source)
        #expect(try source.read(height: Self.checkpoint, offset: 100, limit: 50) == Array(snapshot.bytes[100..<150]))
        #expect(try source.read(height: Self.checkpoint, offset: UInt64(snapshot.bytes.count), limit: 10) == [])
        let targets: [any SnapshotArchive] = [InMemorySnapshotArchive(), try DirectorySnapshotArchive(directory: directory.appendingPathComponent("target"))]
        for target in targets {
            var offset: UInt64 = 0
            while offset < UInt64(snapshot.bytes.count) {
                let piece = try source.read(height: Self.checkpoint, offset: offset, limit: 777)
                try target.append(height: Self.checkpoint, offset: offset, piece)
                offset += UInt64(piece.count)
            }
            #expect(throws: StorageError.self, "an append at the wrong offset") { try target.append(height: Self.checkpoint, offset: 3, [1]) }
            let held = try target.digest(height: Self.checkpoint)
            #expect(held.digest == snapshot.digest)
            #expect(held.bytes == UInt64(snapshot.bytes.count))
            var frames: [SnapshotFrame] = []
            try target.forEachFrame(height: Self.checkpoint) { frames.append($0) }
            #expect(frames == snapshot.frames)
        }
    }

    /// Private collections' keys (`private/…`) stay out of a snapshot; keys beside that range stay in.
    /// Block 11 here is an empty block made by hand whose writes are those keys.
    @Test func privateCollectionsKeysAreLeftOut() throws {
        let shared = ["private", "private0", "privatd/x", "privatf", "pr"]
        let hidden = ["private/", "private/" + String(repeating: "ab", count: 32) + "/k", "private//"]
        var snapshots: [Snapshot] = []
        for kind in Kind.allCases {
            try Self.withStore(kind) { store in
                try Self.buildChain(in: store)
                let previous = try #require(try store.head())
                let writes = WriteSet(Dictionary(uniqueKeysWithValues: (shared + hidden).map { ($0, Optional([UInt8](Array($0.utf8)))) }))
                let header = BlockHeader(chainId: Self.chainId, height: previous.height + 1, previousHash: previous.hash, timeMs: previous.timeMs + 1,
                                         transactionCount: 0, transactionsRoot: Block.transactionsRoot([]), logSize: previous.logSize,
                                         logRoot: previous.logRoot, resultsRoot: TransactionResult.root([], transactionIDs: []),
                                         stateRoot: writes.stateRoot(after: previous.stateRoot), ordererKey: Self.sealing.signingPublicKey)
                let block = Block.seal(header: header, transactions: [], results: [], ordererKeys: Self.sealing)
                try store.commit(BlockCommit(block: block, firstLogIndex: previous.logSize, leafHashes: [], logNodes: [], writeSet: writes))
                for key in shared + hidden { #expect(try store.state(key) != nil, "\(key) is in the store") }

                let snapshot = try Self.snapshot(of: try store.view())
                let keys = snapshot.frames.flatMap { frame -> [String] in if case .state(let entries) = frame { entries.map(\.key) } else { [] } }
                for key in shared { #expect(keys.contains(key), "\(kind): \(key) is shared") }
                for key in hidden { #expect(!keys.contains(key), "\(kind): \(key) is private") }
                snapshots.append(snapshot)

                try Self.withStore(kind) { target in
                    try target.commit(try Self.genesis())
                    try Self.install(snapshot, into: target)
                    #expect(try target.head() == header)
                    for key in shared { #expect(try target.state(key) == Array(key.utf8)) }
                    for key in hidden { #expect(try target.state(key) == nil) }
                }
            }
        }
        #expect(snapshots[0].bytes == snapshots[1].bytes, "the in-memory and SQLite stores leave out the same keys")
    }

    // MARK: installing

    @Test(arguments: Kind.allCases)
    func anInstalledStoreAnswersAsTheSource(kind: Kind) throws {
        try Self.withStore(kind) { source in
            try Self.buildChain(in: source)
            let snapshot = try Self.snapshot(of: try source.view())
            try Self.withStore(kind) { target in
                try target.commit(try Self.genesis())
                #expect(try target.snapshotBase() == nil)
                try Self.install(snapshot, into: target)
                try Self.expectSameAnswers(target, source, snapshot: snapshot)

                // The installed store goes on from the checkpoint as the source does, to the same block and snapshot.
                try Self.commit(11...11, into: source)
                try Self.commit(11...11, into: target)
                #expect(try target.head() == source.head())
                #expect(try target.rawBlock(height: 11) == source.rawBlock(height: 11))
                #expect(try Self.snapshot(of: try target.view()).bytes == Self.snapshot(of: try source.view()).bytes)
                #expect(try target.snapshotBase()?.height == Self.checkpoint, "the base stays")
            }
        }
    }

    /// An install into SQLite is durable: a store opened again over the file answers the same.
    @Test func anInstalledSQLiteStoreReopens() throws {
        let fixture = try Self.fixture.get()
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("ledger.sqlite").path
        do {
            let target = try SQLiteLedgerStore(path: path)
            try target.commit(try Self.genesis())
            try Self.install(fixture.snapshot, into: target)
        }
        try Self.expectSameAnswers(try SQLiteLedgerStore(path: path), fixture.source, snapshot: fixture.snapshot)
    }

    static func expectSameAnswers(_ target: any SnapshotStore, _ source: any SnapshotStore, snapshot: Snapshot) throws {
        let head = try #require(try source.head())
        #expect(try target.head() == head)
        #expect(try target.header(height: Self.checkpoint) == head)
        #expect(try target.rawBlock(height: Self.checkpoint) == source.rawBlock(height: Self.checkpoint))
        #expect(try target.rawBlock(height: 0) == source.rawBlock(height: 0), "the genesis block stays, with its transactions")
        #expect(try target.rawBlock(height: 1) == nil, "blocks between genesis and the checkpoint are not in it")
        #expect(try target.rawBlock(height: Self.checkpoint - 1) == nil)
        #expect(try target.header(height: 5) == nil)
        #expect(try target.snapshotBase() == SnapshotBase(height: Self.checkpoint, digest: snapshot.digest))
        #expect(try target.orderingPosition() == Self.position)
        #expect(try Genesis.finalityQuorum(in: target) == 1)

        let sourceContents = try contents(source), targetContents = try contents(target)
        #expect(targetContents.state == sourceContents.state, "every state key, value and height")
        #expect(targetContents.transactions == sourceContents.transactions, "every transaction's index entry")
        #expect(targetContents.logNodes == sourceContents.logNodes, "every interior log node")
        #expect(targetContents.state.count > 10)

        for row in sourceContents.transactions {
            let id = try #require(Hash256(bytes: row.id)), leaf = try #require(Hash256(bytes: row.leafHash))
            #expect(try target.location(of: id) == source.location(of: id), "log index \(row.logIndex)")
            #expect(try target.logIndex(ofLeafHash: leaf) == row.logIndex)
            #expect(try target.subtreeHash(level: 0, index: row.logIndex) == leaf)
            let bytes = try target.transactionBytes(logIndex: row.logIndex)
            switch row.height {
            case 0, Self.checkpoint: #expect(try bytes == source.transactionBytes(logIndex: row.logIndex), "log index \(row.logIndex) keeps its bytes")
            default: #expect(bytes == nil, "log index \(row.logIndex) (height \(row.height)) is before the checkpoint")
            }
        }
        for node in sourceContents.logNodes {
            #expect(try target.subtreeHash(level: node.level, index: node.index) == node.hash)
        }

        // Proofs from the installed store verify against the checkpoint's log root, and are the source's.
        let proofs = MerkleProofBuilder(source: target), sourceProofs = MerkleProofBuilder(source: source)
        #expect(try proofs.root(size: head.logSize) == head.logRoot)
        for index in 0..<head.logSize {
            let proof = try proofs.inclusionProof(index: index, size: head.logSize)
            #expect(try proof == sourceProofs.inclusionProof(index: index, size: head.logSize))
            let leaf = try target.subtreeHash(level: 0, index: index)
            #expect(throws: Never.self) { try MerkleVerifier.verifyInclusion(leafHash: leaf, index: index, size: head.logSize, proof: proof, root: head.logRoot) }
        }
        for size in [1, head.logSize / 2, head.logSize - 1] {
            #expect(try proofs.consistencyProof(first: size, second: head.logSize) == sourceProofs.consistencyProof(first: size, second: head.logSize))
        }
    }

    // MARK: refusals

    /// What a refused install throws.
    enum Refused: Sendable, CustomStringConvertible {
        case malformed(String)
        case mismatch(String)
        case storage(String)

        func matches(_ error: any Error) -> Bool {
            switch (self, error as? SnapshotError, error as? StorageError) {
            case (.malformed(let part), .malformed(let why)?, _), (.mismatch(let part), .mismatch(let why)?, _): why.contains(part)
            case (.storage(let part), _, let storage?): storage.description.contains(part)
            default: false
            }
        }

        var description: String {
            switch self {
            case .malformed(let part): "SnapshotError.malformed(…\(part)…)"
            case .mismatch(let part): "SnapshotError.mismatch(…\(part)…)"
            case .storage(let part): "StorageError(…\(part)…)"
            }
        }
    }

    struct Refusal: Sendable, CustomTestStringConvertible {
        let name: String
        /// What the target store holds before the install: by default the genesis block alone.
        var prepare: @Sendable (any SnapshotStore, Fixture) throws -> Void = { store, _ in try store.commit(try SnapshotStoreTests.genesis()) }
        var frames: @Sendable ([SnapshotFrame]) -> [SnapshotFrame] = { $0 }
        var claim: @Sendable (CheckpointStatement.Claim) -> CheckpointStatement.Claim = { $0 }
        let refused: Refused
        var testDescription: String { name }
    }

    static func claim(_ c: CheckpointStatement.Claim, height: UInt64? = nil, blockHash: Hash256? = nil) -> CheckpointStatement.Claim {
        CheckpointStatement(chainId: chainId, height: height ?? c.height, blockHash: blockHash ?? c.blockHash, snapshotDigest: c.snapshotDigest,
                            snapshotBytes: c.snapshotBytes, attester: founder.derivedID, signature: []).claim
    }

    /// `frames` with the first frame of its kind changed by `change`.
    static func changingFirst(_ frames: [SnapshotFrame], where isIt: (SnapshotFrame) -> Bool,
                              _ change: (SnapshotFrame) -> SnapshotFrame) -> [SnapshotFrame] {
        var frames = frames
        if let at = frames.firstIndex(where: isIt) { frames[at] = change(frames[at]) }
        return frames
    }

    static func changingState(_ frames: [SnapshotFrame], _ change: @escaping (inout [SnapshotStateEntry]) -> Void) -> [SnapshotFrame] {
        changingFirst(frames, where: { if case .state = $0 { true } else { false } }) { frame in
            guard case .state(var entries) = frame else { return frame }
            change(&entries)
            return .state(entries)
        }
    }

    static func changingTransactions(_ frames: [SnapshotFrame], _ change: @escaping (inout [SnapshotTransactionEntry]) -> Void) -> [SnapshotFrame] {
        changingFirst(frames, where: { if case .transactions = $0 { true } else { false } }) { frame in
            guard case .transactions(var entries) = frame else { return frame }
            change(&entries)
            return .transactions(entries)
        }
    }

    static func changingHead(_ frames: [SnapshotFrame], _ change: @escaping (String, RawBlock) -> SnapshotFrame) -> [SnapshotFrame] {
        changingFirst(frames, where: { if case .head = $0 { true } else { false } }) { frame in
            guard case .head(let chainId, let block) = frame else { return frame }
            return change(chainId, block)
        }
    }

    static func entry(_ e: SnapshotTransactionEntry, id: Hash256? = nil, leafHash: Hash256? = nil, height: UInt64? = nil) -> SnapshotTransactionEntry {
        SnapshotTransactionEntry(id: id ?? e.id, leafHash: leafHash ?? e.leafHash, height: height ?? e.height, result: e.result)
    }

    static let refusals: [Refusal] = [
        Refusal(name: "a claim with another block hash", claim: { claim($0, blockHash: Hash256.sha256([1])) }, refused: .mismatch("the checkpoint is")),
        Refusal(name: "a claim at another height", claim: { claim($0, height: checkpoint - 1) }, refused: .mismatch("the checkpoint is")),
        Refusal(name: "a head of another chain",
                frames: { changingHead($0) { _, block in .head(chainId: "other-chain", block: block) } }, refused: .mismatch("of chain other-chain")),
        Refusal(name: "a head whose seal does not verify",
                frames: {
                    changingHead($0) { chainId, b in
                        var signature = b.signature
                        signature[0] ^= 1
                        return .head(chainId: chainId, block: RawBlock(headerBytes: b.headerBytes, signature: signature,
                                                                       transactionBytes: b.transactionBytes, resultBytes: b.resultBytes))
                    }
                }, refused: .mismatch("seal does not verify")),
        Refusal(name: "a head holding another transaction than its header's",
                frames: {
                    changingHead($0) { chainId, b in
                        .head(chainId: chainId, block: RawBlock(headerBytes: b.headerBytes, signature: b.signature,
                                                                transactionBytes: [blocks[0][0].bytes] + b.transactionBytes.dropFirst(),
                                                                resultBytes: b.resultBytes))
                    }
                }, refused: .mismatch("do not hash to its header's roots")),
        Refusal(name: "a head missing a transaction",
                frames: {
                    changingHead($0) { chainId, b in
                        .head(chainId: chainId, block: RawBlock(headerBytes: b.headerBytes, signature: b.signature,
                                                                transactionBytes: Array(b.transactionBytes.dropLast()), resultBytes: Array(b.resultBytes.dropLast())))
                    }
                }, refused: .mismatch("its header says")),
        Refusal(name: "state keys out of order", frames: { changingState($0) { $0.swapAt(0, 1) } }, refused: .malformed("is not after")),
        Refusal(name: "a state key twice", frames: { changingState($0) { $0.insert($0[3], at: 3) } }, refused: .malformed("is not after")),
        Refusal(name: "a private collection's key",
                frames: {
                    changingState($0) { entries in
                        entries.append(SnapshotStateEntry(key: PrivateEnvelope.keyPrefix + String(repeating: "0", count: 64) + "/k", value: [1], height: 1))
                        entries.sort { String.utf8Order($0.key, $1.key) < 0 }
                    }
                }, refused: .malformed("private collection")),
        Refusal(name: "a state key written after the checkpoint",
                frames: { changingState($0) { $0[2] = SnapshotStateEntry(key: $0[2].key, value: $0[2].value, height: checkpoint + 1) } },
                refused: .malformed("written after the checkpoint")),
        Refusal(name: "state entries after the transaction entries",
                frames: { frames in
                    var frames = frames
                    let state = frames.remove(at: 1)
                    frames.insert(state, at: frames.count - 1)
                    return frames
                }, refused: .malformed("state entries out of place")),
        Refusal(name: "a changed leaf hash (a wrong log)",
                frames: { changingTransactions($0) { $0[5] = entry($0[5], leafHash: Hash256.sha256([5])) } }, refused: .mismatch("the header says")),
        Refusal(name: "two leaf hashes swapped",
                frames: { changingTransactions($0) { $0.swapAt(4, 7) } }, refused: .mismatch("the header says")),
        Refusal(name: "a transaction entry missing",
                frames: { changingTransactions($0) { $0.remove(at: 5) } }, refused: .mismatch("before the checkpoint block")),
        Refusal(name: "an extra transaction entry",
                frames: { changingTransactions($0) { $0.insert(entry($0[5], id: Hash256.sha256([6]), leafHash: Hash256.sha256([7])), at: 5) } },
                refused: .mismatch("is not the checkpoint block's transaction")),
        Refusal(name: "a checkpoint block's entry with another id",
                frames: { changingTransactions($0) { $0[$0.count - 1] = entry($0[$0.count - 1], id: Hash256.sha256([8])) } },
                refused: .mismatch("is not the checkpoint block's transaction")),
        Refusal(name: "an earlier entry claiming the checkpoint's height",
                frames: { changingTransactions($0) { $0[3] = entry($0[3], height: checkpoint) } }, refused: .mismatch("before the checkpoint block")),
        Refusal(name: "no end frame", frames: { Array($0.dropLast()) }, refused: .malformed("ends before its end frame")),
        Refusal(name: "no frames at all", frames: { _ in [] }, refused: .malformed("ends before its end frame")),
        Refusal(name: "an end frame with other counts",
                frames: { frames in
                    guard case .end(let states, let transactions)? = frames.last else { return frames }
                    return Array(frames.dropLast()) + [.end(stateEntries: states + 1, transactions: transactions)]
                }, refused: .malformed("counts do not match")),
        Refusal(name: "a second head", frames: { [$0[0]] + $0 }, refused: .malformed("a second head")),
        Refusal(name: "a frame after the end", frames: { $0 + [.state([])] }, refused: .malformed("frames after the end")),
        Refusal(name: "no head frame", frames: { Array($0.dropFirst()) }, refused: .malformed("state entries out of place")),
        Refusal(name: "transaction entries before the head",
                frames: { $0.filter { if case .transactions = $0 { true } else if case .end = $0 { true } else { false } } },
                refused: .malformed("before the head")),
        Refusal(name: "an empty store (no genesis)", prepare: { _, _ in }, refused: .storage("genesis block alone")),
        Refusal(name: "a store that holds a block after genesis",
                prepare: { store, _ in
                    try store.commit(try genesis())
                    try commit(1...1, into: store)
                }, refused: .storage("genesis block alone")),
        Refusal(name: "a store that was installed already",
                prepare: { store, fixture in
                    try store.commit(try genesis())
                    try install(fixture.snapshot, into: store)
                }, refused: .storage("genesis block alone")),
        Refusal(name: "a store whose genesis has other founders",
                prepare: { store, _ in try store.commit(try genesis(founders: [otherFounder])) }, refused: .mismatch("genesis transactions")),
        Refusal(name: "a store whose genesis has the founder second",
                prepare: { store, _ in try store.commit(try genesis(founders: [otherFounder, founder])) }, refused: .mismatch("genesis transactions")),
    ]

    /// Each refusal throws what it should and leaves the target store exactly as it was.
    @Test(arguments: refusals, Kind.allCases)
    func aRefusedSnapshotChangesNothing(_ refusal: Refusal, kind: Kind) throws {
        let fixture = try Self.fixture.get()
        try Self.withStore(kind) { target in
            try refusal.prepare(target, fixture)
            let before = try Self.contents(target)
            let claim = refusal.claim(fixture.snapshot.claim)
            do {
                try Self.install(refusal.frames(fixture.snapshot.frames), claim: claim, digest: fixture.snapshot.digest, into: target)
                Issue.record("installed; expected \(refusal.refused)")
            } catch {
                #expect(refusal.refused.matches(error), "threw \(type(of: error)): \(error); expected \(refusal.refused)")
            }
            #expect(try Self.contents(target) == before, "the store is unchanged")
            if before.head?.height == 0 {
                #expect(try target.snapshotBase() == nil)
                #expect(try target.rawBlock(height: Self.checkpoint) == nil)
            }
            // The honest snapshot still installs where the refused one was tried on a genesis-only store.
            if before.head?.hash == (try Self.genesis().block.hash), before.blocks.compactMap({ $0 }).count == 1 {
                try Self.install(fixture.snapshot, into: target)
                #expect(try target.head() == fixture.snapshot.head)
            }
        }
    }

    /// The checker sees the state's keys, their order and heights, but not their values (nor the
    /// ids and results of transactions before the checkpoint block): those only the quorum-signed digest
    /// covers. A joining node (`SnapshotJoin`) checks the digest of the bytes before it installs;
    /// `install` itself trusts its caller for that.
    @Test func aTamperedStateValueOrEarlierEntryIsCaughtOnlyByTheDigest() throws {
        let snapshot = try Self.fixture.get().snapshot
        let tampered: [(String, [SnapshotFrame])] = [
            ("a state value", Self.changingState(snapshot.frames) { $0[3] = SnapshotStateEntry(key: $0[3].key, value: [0xBA, 0xD0], height: $0[3].height) }),
            ("an earlier transaction's result", Self.changingTransactions(snapshot.frames) { entries in
                entries[4] = SnapshotTransactionEntry(id: entries[4].id, leafHash: entries[4].leafHash, height: entries[4].height,
                                                      result: TransactionResult(code: 9, message: "forged").encoded)
            }),
            ("an earlier transaction's id", Self.changingTransactions(snapshot.frames) { $0[4] = Self.entry($0[4], id: Hash256.sha256([4])) }),
        ]
        for (name, frames) in tampered {
            #expect(frames != snapshot.frames, "\(name)")
            var checker = SnapshotChecker(chainId: Self.chainId, claim: snapshot.claim)
            for frame in frames { try checker.check(frame) }
            #expect(checker.finished)
            #expect(Hash256.sha256(frames.flatMap(\.framed)) != snapshot.claim.snapshotDigest, "the digest catches \(name)")
        }
    }

    /// A store whose genesis block holds the snapshot's founding transaction and one more: the
    /// snapshot's first entries must be exactly the store's genesis transactions, in order, or the
    /// store would end with a genesis block missing a founder (and `Genesis.finalityQuorum` would
    /// read 1 where the header's two founders make it 2). Failed before the check was added.
    @Test(arguments: Kind.allCases)
    func aSnapshotWithFewerGenesisTransactionsThanTheStoreIsRefused(kind: Kind) throws {
        let fixture = try Self.fixture.get()
        try Self.withStore(kind) { target in
            try target.commit(try Self.genesis(founders: [Self.founder, Self.otherFounder]))
            let before = try Self.contents(target)
            var refused = false
            do { try Self.install(fixture.snapshot, into: target) } catch { refused = error is SnapshotError }
            let after = try Self.contents(target)
            #expect(refused)
            #expect(after == before)
        }
    }
}
