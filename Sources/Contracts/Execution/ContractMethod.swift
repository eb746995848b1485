public import LedgerCore

/// The methods of one contract: a `String` enum whose case names are the wire method names
/// (`RecordsContract.Method.register` is "register"). The only place a method name is spelled.
public protocol ContractMethods: RawRepresentable<String>, CaseIterable, Hashable, Sendable {
    /// The contract's name, which is also its state-key prefix.
    static var contract: String { get }
}

extension ContractMethods {
    /// Every method name, for `Contract.methods`.
    public static var names: Set<String> { Set(allCases.map(\.rawValue)) }

    /// The method a call names, or `.unknownMethod`.
    public static func of(_ call: ContractCall) throws(Rejection) -> Self {
        guard let method = Self(rawValue: call.method) else {
            throw Rejection(.unknownMethod, "\(contract) has no method \(call.method)")
        }
        return method
    }
}

/// The typed arguments of one contract method. The same value builds a transaction (`args`, or
/// `TransactionBody(…, call:)`) and is what the contract decodes (`init(_ call:)`); its
/// `Codable` conformance, derived by the compiler, is the argument map's wire format through
/// `CanonicalEncoder`/`CanonicalDecoder` (property names are the argument keys).
///
/// Value limits the types cannot express (string lengths, integer ranges, list sizes, code
/// formats) are checked in `validate()`, which the decoder runs on every decoded argument value,
/// nested ones included. Any decoding failure becomes a `Rejection`: `.badArguments` with a precise
/// message, or the code a `validate()` or an `ArgumentName` threw.
public protocol ContractMethod: Codable, Sendable, CanonicalValidated {
    associatedtype Methods: ContractMethods
    /// The method these arguments are for.
    static var method: Methods { get }
    /// The arguments decoded by hand, for a method every block is full of (`claims.submit`): nil
    /// for anything it does not accept, which the `Codable` path then decodes or refuses with its
    /// own message. What it accepts it must decode to what the `Codable` path would, validated;
    /// `ArgumentsByHandTests` compares the two. Nil (the default): always the `Codable` path.
    static func decodedByHand(_ args: CanonicalValue) -> Self?
}

extension ContractMethod {
    /// The contract's name.
    public static var contract: String { Methods.contract }
    /// The wire method name.
    public static var methodName: String { method.rawValue }

    /// No limits beyond the types, unless the method declares some.
    public func validate() throws(Rejection) {}

    public static func decodedByHand(_ args: CanonicalValue) -> Self? { nil }

    /// The canonical argument map for a transaction.
    public var args: CanonicalValue {
        do { return try CanonicalEncoder().encode(self) } catch {
            // Argument types are integers up to Int64, strings, booleans, bytes, lists and maps.
            preconditionFailure("contract arguments are always encodable: \(error)")
        }
    }

    /// Decodes a call's arguments (the executor already checked the contract and method names), or
    /// takes them as admission decoded them.
    public init(_ call: ContractCall) throws(Rejection) {
        let args = call.args
        // A private call's arguments are not the transaction's: not remembered with it.
        if call.envelope != nil { self = try Self(args: args); return }
        self = try call.transaction.decodedArguments.get { () throws(Rejection) in try Self(args: args) }
    }

    /// Decodes an argument value; every failure is a rejection.
    public init(args: CanonicalValue) throws(Rejection) {
        if let decoded = Self.decodedByHand(args) { self = decoded; return }
        do { self = try CanonicalDecoder().decode(Self.self, from: args) } catch { throw Rejection(decoding: error) }
    }

    /// The arguments of a transaction calling this method, or nil (another method, malformed
    /// arguments). For `likelyKeys` hints.
    public init?(_ transaction: VerifiedTransaction) {
        let args = transaction.body.args
        guard transaction.body.method == Self.methodName, transaction.body.contract == Self.contract,
              let decoded = try? transaction.decodedArguments.get({ () throws(Rejection) in try Self(args: args) }) else { return nil }
        self = decoded
    }
}

extension TransactionBody {
    /// A transaction body calling `call`'s contract method with its arguments.
    public init(chainId: String, sender: IdentityID, publicKey: SigningPublicKey, sequence: UInt64, call: some ContractMethod,
                expiryHeight: UInt64? = nil) {
        self.init(chainId: chainId, sender: sender, publicKey: publicKey, sequence: sequence, contract: type(of: call).contract,
                  method: type(of: call).methodName, args: call.args, expiryHeight: expiryHeight)
    }
}

extension Rejection {
    /// The rejection for arguments that did not decode: the code a `validate()` or an argument
    /// name threw (prefixed with the value's path when nested), else `.badArguments`.
    public init(decoding error: CanonicalDecodingError) {
        if let rejection = error.underlying as? Rejection {
            self.init(rejection.code, error.path.isEmpty ? rejection.message : "\(error.path): \(rejection.message)")
        } else {
            self.init(.badArguments, error.description)
        }
    }
}

/// A closed set of names passed as a string argument (a category, a role, a reason): its raw value
/// on the wire; an unknown name is refused with `unknownNameCode`, an empty or overlong one with
/// `.badArguments`.
public protocol ArgumentName: RawRepresentable<String>, CaseIterable, Codable, Sendable {
    /// What the name names, for messages: "sensitivity category".
    static var argumentDescription: String { get }
    /// The code an unknown name is refused with.
    static var unknownNameCode: ResultCode { get }
    /// Longest accepted name, in bytes.
    static var nameBytesMax: Int { get }
}

extension ArgumentName {
    public static var unknownNameCode: ResultCode { .badArguments }
    public static var nameBytesMax: Int { 32 }

    /// Parses a name, with the argument rules.
    public init(argument name: String) throws(Rejection) {
        guard !name.isEmpty, name.utf8.count <= Self.nameBytesMax else {
            throw Rejection(.badArguments, "a \(Self.argumentDescription) is 1…\(Self.nameBytesMax) bytes")
        }
        guard let value = Self(rawValue: name) else {
            let names = Self.allCases.map(\.rawValue).joined(separator: ", ")
            throw Rejection(Self.unknownNameCode, "unknown \(Self.argumentDescription) “\(name.prefix(40))”; one of \(names)")
        }
        self = value
    }

    public init(from decoder: any Decoder) throws {
        try self.init(argument: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// Value checks for typed arguments, with the messages the hand-written decoders gave. Keys come
/// from the arguments' `CodingKeys`, so no key is spelled twice.
enum Check {
    /// A non-empty string of at most `maxBytes` UTF-8 bytes.
    static func text(_ value: String, _ key: some CodingKey, maxBytes: Int = 128) throws(Rejection) {
        guard !value.isEmpty, value.utf8.count <= maxBytes else {
            throw Rejection(.badArguments, "“\(key.stringValue)” must be 1…\(maxBytes) bytes")
        }
    }

    static func text(_ value: String?, _ key: some CodingKey, maxBytes: Int = 128) throws(Rejection) {
        if let value { try text(value, key, maxBytes: maxBytes) }
    }

    /// An integer in `range`.
    static func int(_ value: Int64, _ key: some CodingKey, in range: ClosedRange<Int64>) throws(Rejection) {
        guard range.contains(value) else {
            throw Rejection(.badArguments, "“\(key.stringValue)” must be an integer in \(range.lowerBound)…\(range.upperBound)")
        }
    }

    static func int(_ value: Int64?, _ key: some CodingKey, in range: ClosedRange<Int64>) throws(Rejection) {
        if let value { try int(value, key, in: range) }
    }

    /// Latest time (ms since the epoch) any argument may name: far enough for every real date,
    /// low enough that adding a duration cannot overflow.
    static let timeMsMax = Int64.max / 2

    /// A time in ms since the epoch, 0…`timeMsMax`.
    static func timeMs(_ value: Int64?, _ key: some CodingKey) throws(Rejection) {
        try int(value, key, in: 0...timeMsMax)
    }

    /// 32 bytes chosen at random by the client, so never all zeros.
    static func random(_ value: Hash256, _ key: some CodingKey) throws(Rejection) {
        guard value != .zero else { throw Rejection(.badArguments, "“\(key.stringValue)” is 32 random bytes, not zeros") }
    }

    /// Exactly `count` bytes.
    static func bytes(_ value: [UInt8], _ key: some CodingKey, count: Int) throws(Rejection) {
        guard value.count == count else { throw Rejection(.badArguments, "“\(key.stringValue)” must be \(count) bytes") }
    }

    /// A list of `range` items (an absent optional list counts as empty).
    static func count(_ list: (some Collection)?, _ key: some CodingKey, _ range: ClosedRange<Int>) throws(Rejection) {
        let count = list?.count ?? 0
        guard range.contains(count) else {
            throw Rejection(.badArguments, "“\(key.stringValue)” must hold \(range.lowerBound)…\(range.upperBound) items; it has \(count)")
        }
    }

    /// No element twice.
    static func distinct<T: Hashable>(_ list: [T]?, _ key: some CodingKey, _ describe: (T) -> String = { "\($0)" }) throws(Rejection) {
        var seen = Set<T>()
        for (index, item) in (list ?? []).enumerated() where !seen.insert(item).inserted {
            throw Rejection(.badArguments, "\(key.stringValue)[\(index)] \(describe(item)) is listed twice")
        }
    }
}

extension Array where Element: Hashable {
    /// The elements in order, each once.
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}

extension CanonicalValue {
    /// The 32-byte digest, if this is `.bytes` of exactly 32 (as the `Codable` path reads a `Hash256`).
    var digestValue: Hash256? { if case .bytes(let bytes) = self { Hash256(bytes: bytes) } else { nil } }
}
