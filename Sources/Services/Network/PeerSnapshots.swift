import Foundation
public import LedgerCore
public import Node
import NIOCore
import NIOHTTP1
public import Storage

/// Checkpoint snapshots between the nodes of a consortium: what a node answers another
/// organization's node that joins (`GET /v1/snapshots/{height}?offset=`), and the source a joining
/// node fetches from. The bytes need no trust: the joining node checks their digest against the
/// statements a quorum of organizations signed, and every frame, before it installs anything.
public enum PeerSnapshotService {
    /// Most bytes in one answer.
    public static let chunkBytesMax = 8 << 20
    /// The answer's headers: the snapshot's whole length, and the ordering position its node
    /// stored with the checkpoint block (a hint for where to read the shared log from).
    public static let bytesHeader = "CareLedger-Snapshot-Bytes"
    public static let positionHeader = "CareLedger-Snapshot-Position"

    /// A piece of this node's snapshot at `height`, from `offset` (at most `chunkBytesMax` bytes), for
    /// an authenticated active organization's node.
    public static func serve(_ request: PeerRequest, height: UInt64, offset: UInt64, node: LedgerNode, nowMs: Int64) throws(ServiceError)
        -> (bytes: [UInt8], total: UInt64, position: Int64?) {
        _ = try PrivatePayloads.authenticate(request, resource: PeerRequest.snapshot(height: height, offset: offset), node: node, nowMs: nowMs)
        guard let archive = node.configuration.checkpoints?.archive else { throw .notFound("this node makes no checkpoint snapshots") }
        do {
            guard try archive.heights().contains(height) else { throw ServiceError.notFound("this node holds no snapshot at height \(height)") }
            let total = try archive.size(height: height)
            guard offset <= total else { throw ServiceError("offset \(offset) is past the snapshot's \(total) bytes") }
            return (try archive.read(height: height, offset: offset, limit: chunkBytesMax), total, try archive.position(height: height))
        } catch let error as ServiceError {
            throw error
        } catch {
            throw ServiceError(.unavailable, "the snapshot could not be read: \(error)")
        }
    }
}

/// Fetches a snapshot from another organization's node in pieces, over mutual TLS, signed with
/// this node's organization key (`PeerDirectory`).
public final class PeerSnapshotFetcher: SnapshotSource {
    private let directory: PeerDirectory

    public init(directory: PeerDirectory) { self.directory = directory }

    public func fetch(height: UInt64, bytes: UInt64, from organization: IdentityID, into archive: any SnapshotArchive) async throws -> Int64? {
        var offset: UInt64 = 0
        var position: Int64?
        while offset < bytes {
            let (status, body, headers) = try await directory.getWithHeaders(
                "/v1/snapshots/\(height)?offset=\(offset)", resource: PeerRequest.snapshot(height: height, offset: offset), from: organization,
                timeout: .seconds(60), bodyLimit: PeerSnapshotService.chunkBytesMax)
            guard status == 200 else { throw ServiceError(.unavailable, "the node answered \(status): \(String(buffer: body).prefix(200))") }
            guard headers.first(name: PeerSnapshotService.bytesHeader).flatMap(UInt64.init) == bytes else {
                throw ServiceError(.unavailable, "the node's snapshot at \(height) is not the \(bytes) bytes the quorum signed")
            }
            position = headers.first(name: PeerSnapshotService.positionHeader).flatMap(Int64.init)
            let chunk = Array(buffer: body)
            guard !chunk.isEmpty, offset + UInt64(chunk.count) <= bytes else { throw ServiceError(.unavailable, "the node's answer at offset \(offset) is empty or too long") }
            try archive.append(height: height, offset: offset, chunk)
            offset += UInt64(chunk.count)
        }
        return position
    }
}
