import LedgerCore

/// A call as a contract sees it: who sent it, what they asked, and where in the chain it runs.
/// Block time comes from the orderer; contracts never read the clock.
public struct ContractCall: Sendable {
    public let transaction: VerifiedTransaction
    public let height: UInt64
    public let timeMs: Int64

    public var sender: IdentityID { transaction.body.sender }
    public var method: String { transaction.body.method }
    public var args: CanonicalValue { transaction.body.args }
}

/// A deterministic state machine: a pure function of (state, ordered call, block time).
public protocol Contract: Sendable {
    /// The contract's name, which is also its state key prefix.
    var name: String { get }
    /// Methods it accepts.
    var methods: Set<String> { get }
    /// Methods that a sender unknown to the chain may call (self-registration); the sender id must
    /// then be the hash of the transaction's public key.
    var selfRegistrationMethods: Set<String> { get }
    /// Checks and applies a call; throws a rejection (and the executor discards its writes).
    func execute(_ call: ContractCall, state: inout StateView) throws(Rejection)
    /// State keys a call will probably read, so the node can fetch them in one batch before
    /// executing a block. A hint only: reads outside it still work, one at a time.
    func likelyKeys(_ transaction: VerifiedTransaction) -> [String]
}

extension Contract {
    public var selfRegistrationMethods: Set<String> { [] }
    public func likelyKeys(_ transaction: VerifiedTransaction) -> [String] { [] }
}

/// Typed argument access that turns every malformed argument into a `.badArguments` rejection.
public struct Arguments {
    let map: [String: CanonicalValue]

    /// Args must be a map.
    public init(_ value: CanonicalValue) throws(Rejection) {
        guard let map = value.mapValue else { throw Rejection(.badArguments, "arguments must be a map") }
        self.map = map
    }

    /// Fails if a key is present that the method does not define.
    public func allowOnly(_ keys: Set<String>) throws(Rejection) {
        guard map.keys.contains(where: { !keys.contains($0) }) else { return }
        let extra = map.keys.filter { !keys.contains($0) }.sorted()[0]
        throw Rejection(.badArguments, "unknown argument “\(extra)”")
    }

    public func string(_ key: String, maxBytes: Int = 128) throws(Rejection) -> String {
        guard let s = map[key]?.stringValue else { throw Rejection(.badArguments, "“\(key)” must be a string") }
        guard !s.isEmpty, s.utf8.count <= maxBytes else {
            throw Rejection(.badArguments, "“\(key)” must be 1…\(maxBytes) bytes")
        }
        return s
    }

    public func optionalString(_ key: String, maxBytes: Int = 128) throws(Rejection) -> String? {
        map[key] == nil ? nil : try string(key, maxBytes: maxBytes)
    }

    public func bytes(_ key: String, count: Int) throws(Rejection) -> [UInt8] {
        guard let b = map[key]?.bytesValue, b.count == count else {
            throw Rejection(.badArguments, "“\(key)” must be \(count) bytes")
        }
        return b
    }

    public func hash(_ key: String) throws(Rejection) -> Hash256 { Hash256(bytes: try bytes(key, count: 32))! }

    public func signingKey(_ key: String) throws(Rejection) -> SigningPublicKey {
        guard let k = SigningPublicKey(rawValue: try bytes(key, count: 32)) else {
            throw Rejection(.badArguments, "“\(key)” is not a valid Ed25519 public key")
        }
        return k
    }

    public func stringList(_ key: String, maxCount: Int) throws(Rejection) -> [String] {
        guard let list = map[key]?.listValue, list.count <= maxCount else {
            throw Rejection(.badArguments, "“\(key)” must be a list of at most \(maxCount) strings")
        }
        var out: [String] = []
        for item in list {
            guard let s = item.stringValue else { throw Rejection(.badArguments, "“\(key)” must hold strings") }
            out.append(s)
        }
        return out
    }

    public func optionalBytesList(_ key: String, count: Int, maxCount: Int) throws(Rejection) -> [[UInt8]] {
        guard let value = map[key] else { return [] }
        guard let list = value.listValue, list.count <= maxCount else {
            throw Rejection(.badArguments, "“\(key)” must be a list of at most \(maxCount) byte strings")
        }
        var out: [[UInt8]] = []
        for item in list {
            guard let b = item.bytesValue, b.count == count else {
                throw Rejection(.badArguments, "“\(key)” must hold \(count)-byte strings")
            }
            out.append(b)
        }
        return out
    }

    /// An integer in `range`.
    public func int(_ key: String, in range: ClosedRange<Int64>) throws(Rejection) -> Int64 {
        guard let i = map[key]?.intValue, range.contains(i) else {
            throw Rejection(.badArguments, "“\(key)” must be an integer in \(range.lowerBound)…\(range.upperBound)")
        }
        return i
    }

    /// An integer in `range`, or nil when absent.
    public func optionalInt(_ key: String, in range: ClosedRange<Int64>) throws(Rejection) -> Int64? {
        map[key] == nil ? nil : try int(key, in: range)
    }

    /// A list of 1…`maxCount` maps, each as its own arguments.
    public func list(_ key: String, maxCount: Int) throws(Rejection) -> [CanonicalValue] {
        guard let list = map[key]?.listValue else { throw Rejection(.badArguments, "\(key) must be a list") }
        guard list.count <= maxCount else { throw Rejection(.badArguments, "\(key) has \(list.count) items; at most \(maxCount)") }
        return list
    }

    /// A 32-byte hash, or nil when absent.
    public func optionalHash(_ key: String) throws(Rejection) -> Hash256? {
        map[key] == nil ? nil : try hash(key)
    }

    /// A list of 32-byte hashes, empty when absent.
    public func hashList(_ key: String, maxCount: Int) throws(Rejection) -> [Hash256] {
        try optionalBytesList(key, count: 32, maxCount: maxCount).map { Hash256(bytes: $0)! }
    }

    /// A list of strings each parsed by `parse`, empty when absent; `what` names the kind in errors.
    public func enumList<T: Hashable>(_ key: String, maxCount: Int, what: String, code: ResultCode = .badArguments,
                                      _ parse: (String) -> T?) throws(Rejection) -> [T] {
        guard map[key] != nil else { return [] }
        var out: [T] = []
        for name in try stringList(key, maxCount: maxCount) {
            guard let value = parse(name) else { throw Rejection(code, "unknown \(what) “\(name)”") }
            if !out.contains(value) { out.append(value) }
        }
        return out
    }

    /// A nested map argument.
    public func nested(_ key: String) throws(Rejection) -> Arguments {
        guard let value = map[key] else { throw Rejection(.badArguments, "“\(key)” is required") }
        return try Arguments(value)
    }

    /// True if the key is present.
    public func has(_ key: String) -> Bool { map[key] != nil }
}
