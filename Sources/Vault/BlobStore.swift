public import LedgerCore
import Synchronization

/// Where encrypted record blobs live, addressed by the SHA-256 of their ciphertext.
public protocol BlobStore: Sendable {
    /// Stores a blob (idempotent); returns its address.
    func putBlob(_ sealed: SealedRecord) throws -> Hash256
    /// The blob at an address, if held.
    func blob(_ hash: Hash256) throws -> SealedRecord?
    /// Destroys a blob.
    func deleteBlob(_ hash: Hash256) throws
}

/// An in-memory BlobStore for tests.
public final class MemoryBlobStore: BlobStore {
    private let blobs = Mutex<[Hash256: SealedRecord]>([:])

    public init() {}

    public func putBlob(_ sealed: SealedRecord) throws -> Hash256 {
        blobs.withLock { $0[sealed.hash] = sealed }
        return sealed.hash
    }

    public func blob(_ hash: Hash256) throws -> SealedRecord? { blobs.withLock { $0[hash] } }

    public func deleteBlob(_ hash: Hash256) throws { _ = blobs.withLock { $0.removeValue(forKey: hash) } }
}
