public import Foundation
import Crypto

/// A SHA-256 digest as a fixed-size value: 32 bytes held inline, no allocation.
public struct Hash256: Hashable, Sendable, Comparable, CustomStringConvertible {
    // Raw digest bytes in memory order; words are an implementation detail of inline storage.
    private var w0: UInt64 = 0, w1: UInt64 = 0, w2: UInt64 = 0, w3: UInt64 = 0

    /// Number of bytes in a digest.
    public static let byteCount = 32
    /// The all-zero digest, used as the "no previous" link of the genesis block and initial state root.
    public static let zero = Hash256()

    private init() {}

    /// Wraps exactly 32 bytes; returns nil for any other length.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        if let fast = bytes.withContiguousStorageIfAvailable({ Hash256(raw: UnsafeRawBufferPointer($0)) }) {
            self = fast
            return
        }
        var value = Hash256()
        withUnsafeMutableBytes(of: &value) { raw in
            for (offset, byte) in bytes.enumerated() { raw[offset] = byte }
        }
        self = value
    }

    /// Copies the first 32 bytes of a raw buffer (caller guarantees the length).
    init(raw: UnsafeRawBufferPointer) {
        precondition(raw.count == Self.byteCount, "digest must be 32 bytes")
        var value = Hash256()
        withUnsafeMutableBytes(of: &value) { $0.copyMemory(from: raw) }
        self = value
    }

    /// Parses 64 hex characters.
    public init?(hex: String) {
        guard let bytes = Hex.decode(hex) else { return nil }
        self.init(bytes: bytes)
    }

    /// SHA-256 of `data`.
    public static func sha256(_ data: some DataProtocol) -> Hash256 {
        SHA256.hash(data: data).withUnsafeBytes { Hash256(raw: $0) }
    }

    /// SHA-256 of a domain-separation tag followed by `data`.
    public static func sha256(domain: String, _ data: some DataProtocol) -> Hash256 {
        var hasher = SHA256()
        hasher.update(data: Array(domain.utf8))
        hasher.update(data: data)
        return hasher.finalize().withUnsafeBytes { Hash256(raw: $0) }
    }

    /// SHA-256 over a raw buffer, without copying it into an array.
    public static func sha256(buffer: UnsafeRawBufferPointer) -> Hash256 {
        SHA256.hash(data: buffer).withUnsafeBytes { Hash256(raw: $0) }
    }

    /// SHA-256 of bytes given in pieces (a file read in chunks).
    public struct Stream: Sendable {
        private var hasher = SHA256()
        public init() {}
        public mutating func update(_ data: some DataProtocol) { hasher.update(data: data) }
        public func finalize() -> Hash256 { hasher.finalize().withUnsafeBytes { Hash256(raw: $0) } }
    }

    /// The 32 bytes as an array.
    public var bytes: [UInt8] { withUnsafeBytes(of: self) { Array($0) } }

    /// Calls `body` with the 32 bytes, without allocating.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: self, body)
    }

    /// Lowercase hex, 64 characters.
    public var hex: String { Hex.encode(bytes) }

    /// Standard base64 (as in Certificate Transparency's JSON).
    public var base64: String { Base64.encode(bytes) }

    public var description: String { hex }

    /// Bytewise (lexicographic) order.
    public static func < (lhs: Hash256, rhs: Hash256) -> Bool {
        if lhs.w0 != rhs.w0 { return lhs.w0.bigEndian < rhs.w0.bigEndian }
        if lhs.w1 != rhs.w1 { return lhs.w1.bigEndian < rhs.w1.bigEndian }
        if lhs.w2 != rhs.w2 { return lhs.w2.bigEndian < rhs.w2.bigEndian }
        return lhs.w3.bigEndian < rhs.w3.bigEndian
    }
}
