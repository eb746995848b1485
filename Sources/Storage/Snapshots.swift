public import Foundation
public import LedgerCore
import Synchronization

/// A consistent read of a store at one moment (its head), usable while blocks keep committing.
public protocol LedgerStoreView: Sendable {
    func head() throws -> BlockHeader?
    func rawBlock(height: UInt64) throws -> RawBlock?
    /// Every shared state entry (private collections' keys left out), in key byte order.
    func forEachSharedState(_ body: (SnapshotStateEntry) throws -> Void) throws
    /// Every transaction's index entry, in log order.
    func forEachTransaction(_ body: (SnapshotTransactionEntry) throws -> Void) throws
    /// The ordering position stored with the view's head.
    func orderingPosition() throws -> Int64?
}

/// Where a store began when it was installed from a snapshot: blocks below `height` are not in it.
public struct SnapshotBase: Sendable, Equatable {
    public let height: UInt64
    public let digest: Hash256
    public init(height: UInt64, digest: Hash256) { (self.height, self.digest) = (height, digest) }
}

/// A store that can be snapshotted at a checkpoint and installed from one.
public protocol SnapshotStore: LedgerStore {
    /// A consistent view as of now.
    func view() throws -> any LedgerStoreView
    /// Fills a store that holds only the genesis block from a snapshot's frames, checked by
    /// `checker` as they come, in one transaction: nothing is written unless every frame checks.
    /// `position` is the ordering position to resume reading the shared log after.
    func install(from frames: ((SnapshotFrame) throws -> Void) throws -> Void, checker: SnapshotChecker, digest: Hash256, position: Int64?) throws
    /// The snapshot this store was installed from, if it was.
    func snapshotBase() throws -> SnapshotBase?
}

extension LedgerStoreView {
    /// Writes the snapshot of this view as frames to `sink`; answers the head it is of.
    public func writeSnapshot(chainId: String, to sink: (SnapshotFrame) throws -> Void) throws -> BlockHeader {
        guard let head = try head(), let block = try rawBlock(height: head.height) else { throw StorageError.missing("a head block") }
        try sink(.head(chainId: chainId, block: block))
        var states: [SnapshotStateEntry] = [], bytes = 0, stateCount: UInt64 = 0
        try forEachSharedState { entry in
            states.append(entry)
            bytes += entry.key.utf8.count + entry.value.count + 16
            stateCount += 1
            if bytes >= SnapshotFrame.frameBytesTarget {
                try sink(.state(states))
                (states, bytes) = ([], 0)
            }
        }
        if !states.isEmpty { try sink(.state(states)) }
        var transactions: [SnapshotTransactionEntry] = [], transactionCount: UInt64 = 0
        bytes = 0
        try forEachTransaction { entry in
            transactions.append(entry)
            bytes += 80 + entry.result.count
            transactionCount += 1
            if bytes >= SnapshotFrame.frameBytesTarget {
                try sink(.transactions(transactions))
                (transactions, bytes) = ([], 0)
            }
        }
        if !transactions.isEmpty { try sink(.transactions(transactions)) }
        try sink(.end(stateEntries: stateCount, transactions: transactionCount))
        return head
    }
}

/// Where a node keeps its snapshots (the last few checkpoints') and the one it was installed from.
public protocol SnapshotArchive: Sendable {
    /// Heights of the snapshots held, ascending.
    func heights() throws -> [UInt64]
    /// Writes a snapshot from frames; answers its digest and length. Replaces one at that height.
    /// `position`: the ordering position the store had with the snapshot's block (a hint for a
    /// joining node, outside the digest: nodes that caught up from peers may hold different ones).
    func write(height: UInt64, position: Int64?, _ produce: ((SnapshotFrame) throws -> Void) throws -> Void) throws -> (digest: Hash256, bytes: UInt64)
    /// Adds bytes received from a peer to a snapshot being downloaded (`offset` must be its length so far).
    func append(height: UInt64, offset: UInt64, _ bytes: [UInt8]) throws
    /// The ordering position hint written with a snapshot.
    func position(height: UInt64) throws -> Int64?
    /// Length of the bytes held for a height.
    func size(height: UInt64) throws -> UInt64
    /// Digest and length of the bytes held for a height.
    func digest(height: UInt64) throws -> (digest: Hash256, bytes: UInt64)
    /// Up to `limit` bytes of a snapshot from `offset`.
    func read(height: UInt64, offset: UInt64, limit: Int) throws -> [UInt8]
    /// The snapshot's frames, read one at a time; throws at the first that does not decode.
    func forEachFrame(height: UInt64, _ body: (SnapshotFrame) throws -> Void) throws
    func remove(height: UInt64) throws
}

extension SnapshotArchive {
    /// Removes all but the newest `keep` snapshots, and never `base` (the one a store was installed from).
    public func prune(keep: Int, base: UInt64?) throws {
        for height in try heights().dropLast(keep) where height != base { try remove(height: height) }
    }
}

/// Reads frames from `read(count)` (fewer bytes than asked only at the end) until the bytes end.
func readFrames(_ read: (Int) throws -> [UInt8], _ body: (SnapshotFrame) throws -> Void) throws {
    while true {
        let prefix = try read(4)
        if prefix.isEmpty { return }
        let length = try SnapshotFrame.length(prefix: prefix)
        let frame = try read(length)
        guard frame.count == length else { throw SnapshotError.malformed("the bytes end inside a frame") }
        try body(try SnapshotFrame(decoding: frame))
    }
}

/// Snapshots in memory: the simulator's and tests'.
public final class InMemorySnapshotArchive: SnapshotArchive {
    private let snapshots = Mutex<[UInt64: [UInt8]]>([:])
    private let positions = Mutex<[UInt64: Int64]>([:])
    public init() {}

    public func position(height: UInt64) -> Int64? { positions.withLock { $0[height] } }

    public func heights() -> [UInt64] { snapshots.withLock { $0.keys.sorted() } }

    public func write(height: UInt64, position: Int64?, _ produce: ((SnapshotFrame) throws -> Void) throws -> Void) throws -> (digest: Hash256, bytes: UInt64) {
        positions.withLock { $0[height] = position }
        var bytes: [UInt8] = []
        try produce { bytes += $0.framed }
        snapshots.withLock { $0[height] = bytes }
        return (Hash256.sha256(bytes), UInt64(bytes.count))
    }

    public func append(height: UInt64, offset: UInt64, _ bytes: [UInt8]) throws {
        try snapshots.withLock { s in
            guard UInt64(s[height]?.count ?? 0) == offset else { throw StorageError.corrupt("snapshot \(height) is not \(offset) bytes long") }
            s[height, default: []] += bytes
        }
    }

    public func digest(height: UInt64) throws -> (digest: Hash256, bytes: UInt64) {
        guard let bytes = snapshots.withLock({ $0[height] }) else { throw StorageError.missing("snapshot \(height)") }
        return (Hash256.sha256(bytes), UInt64(bytes.count))
    }

    public func size(height: UInt64) throws -> UInt64 {
        guard let bytes = snapshots.withLock({ $0[height] }) else { throw StorageError.missing("snapshot \(height)") }
        return UInt64(bytes.count)
    }

    public func read(height: UInt64, offset: UInt64, limit: Int) throws -> [UInt8] {
        guard let bytes = snapshots.withLock({ $0[height] }) else { throw StorageError.missing("snapshot \(height)") }
        guard offset <= UInt64(bytes.count) else { return [] }
        return Array(bytes[Int(offset)..<min(bytes.count, Int(offset) + limit)])
    }

    public func forEachFrame(height: UInt64, _ body: (SnapshotFrame) throws -> Void) throws {
        guard let bytes = snapshots.withLock({ $0[height] }) else { throw StorageError.missing("snapshot \(height)") }
        var at = 0
        try readFrames({ count in
            let end = min(bytes.count, at + count)
            defer { at = end }
            return Array(bytes[at..<end])
        }, body)
    }

    public func remove(height: UInt64) {
        _ = snapshots.withLock { $0.removeValue(forKey: height) }
        _ = positions.withLock { $0.removeValue(forKey: height) }
    }
}

/// Snapshots as files in a directory: `HEIGHT.snapshot`.
public final class DirectorySnapshotArchive: SnapshotArchive {
    public let directory: URL

    public init(directory: URL) throws {
        self.directory = directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    private func url(_ height: UInt64) -> URL { directory.appendingPathComponent("\(height).snapshot") }

    public func heights() throws -> [UInt64] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .compactMap { name in name.hasSuffix(".snapshot") ? UInt64(name.dropLast(".snapshot".count)) : nil }.sorted()
    }

    private func positionURL(_ height: UInt64) -> URL { directory.appendingPathComponent("\(height).position") }

    public func position(height: UInt64) throws -> Int64? {
        (try? String(contentsOf: positionURL(height), encoding: .utf8)).flatMap { Int64($0) }
    }

    public func write(height: UInt64, position: Int64?, _ produce: ((SnapshotFrame) throws -> Void) throws -> Void) throws -> (digest: Hash256, bytes: UInt64) {
        try? FileManager.default.removeItem(at: positionURL(height))
        let partial = directory.appendingPathComponent("\(height).partial")
        FileManager.default.createFile(atPath: partial.path, contents: nil, attributes: [.posixPermissions: 0o600])
        let handle = try FileHandle(forWritingTo: partial)
        var hasher = Hash256.Stream()
        var count: UInt64 = 0
        do {
            try produce { frame in
                let bytes = frame.framed
                hasher.update(bytes)
                count += UInt64(bytes.count)
                try handle.write(contentsOf: bytes)
            }
            try handle.synchronize()
            try handle.close()
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(at: partial)
            throw error
        }
        _ = try? FileManager.default.removeItem(at: url(height))
        try FileManager.default.moveItem(at: partial, to: url(height))
        if let position { try String(position).write(to: positionURL(height), atomically: true, encoding: .utf8) }
        return (hasher.finalize(), count)
    }

    public func append(height: UInt64, offset: UInt64, _ bytes: [UInt8]) throws {
        let path = url(height).path
        if offset == 0 {
            FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        }
        let handle = try FileHandle(forWritingTo: url(height))
        defer { try? handle.close() }
        guard try handle.seekToEnd() == offset else { throw StorageError.corrupt("snapshot \(height) is not \(offset) bytes long") }
        try handle.write(contentsOf: bytes)
        try handle.synchronize()
    }

    public func digest(height: UInt64) throws -> (digest: Hash256, bytes: UInt64) {
        let handle = try FileHandle(forReadingFrom: url(height))
        defer { try? handle.close() }
        var hasher = Hash256.Stream()
        var count: UInt64 = 0
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(chunk)
            count += UInt64(chunk.count)
        }
        return (hasher.finalize(), count)
    }

    public func size(height: UInt64) throws -> UInt64 {
        ((try FileManager.default.attributesOfItem(atPath: url(height).path))[.size] as? NSNumber)?.uint64Value ?? 0
    }

    public func read(height: UInt64, offset: UInt64, limit: Int) throws -> [UInt8] {
        let handle = try FileHandle(forReadingFrom: url(height))
        defer { try? handle.close() }
        try handle.seek(toOffset: offset)
        return Array(try handle.read(upToCount: limit) ?? Data())
    }

    public func forEachFrame(height: UInt64, _ body: (SnapshotFrame) throws -> Void) throws {
        let handle = try FileHandle(forReadingFrom: url(height))
        defer { try? handle.close() }
        try readFrames({ count in Array(try handle.read(upToCount: count) ?? Data()) }, body)
    }

    public func remove(height: UInt64) throws {
        try? FileManager.default.removeItem(at: positionURL(height))
        try FileManager.default.removeItem(at: url(height))
    }
}
