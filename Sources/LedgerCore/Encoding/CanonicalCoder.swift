import Synchronization

/// Swift `Codable` over `CanonicalValue`: typed structs in, canonical values out, and back.
///
/// The mapping (both directions):
///
/// | Swift                                         | CanonicalValue                          |
/// |-----------------------------------------------|-----------------------------------------|
/// | struct / class (keyed container)              | `.map`, keyed by its `CodingKeys`        |
/// | `Array`, unkeyed container                    | `.list`                                 |
/// | `Int64`, `Int`, `Int32`…, `UInt64`, `UInt`…   | `.int` (unsigned values must fit Int64) |
/// | `String`                                      | `.string`                               |
/// | `Bool`                                        | `.bool`                                 |
/// | `[UInt8]`, any `CanonicalBytesRepresentable`  | `.bytes` (`Hash256`, `SigningPublicKey`) |
/// | `CanonicalValue`                              | itself (a raw escape hatch)             |
/// | `Optional` field that is nil                  | key omitted                             |
/// | `encodeNil` / `decodeNil`                     | `.null`                                 |
/// | `Float`, `Double`                             | refused: the format has no floats       |
///
/// Decoding is strict, as contract arguments must be: a key the type does not read is an error
/// (no silent extras), a missing key or a wrong value type is an error, and an optional field that
/// is present must hold a value of its type (`.null` is not "absent"). Every error names the path
/// of the offending value (`entries[3].record`). A decoded type that conforms to
/// `CanonicalValidated` has `validate()` called right after it is decoded, at any depth; an error it
/// throws is reported with the value's path (see `CanonicalDecodingError.underlying`).
///
/// Decoding runs per transaction in admission and execution, so it allocates little: one decoder
/// object per call, no per-field boxing (one box per decoded struct, which `Codable` imposes), and
/// the path is built only when an error is thrown. Unknown keys are found by counting: every key a
/// type reads is counted, and the total is compared with the total number of map entries at the
/// end; only when they differ does a second, recording pass name the unknown key.
///
/// Encoding to bytes (`encodeBytes`, how contracts store state) builds no value: see `_ByteEncoder`.
/// `encode` builds the `CanonicalValue` through a node tree; both give the same bytes (checked by
/// `CanonicalEncoderEquivalenceTests`).
public struct CanonicalEncoder: Sendable {
    public init() {}

    /// The canonical value of `value`.
    public func encode(_ value: some Encodable) throws(CanonicalEncodingError) -> CanonicalValue {
        try slot(value).value
    }

    /// The canonical bytes of `value`: `encode(value).encoded`, written in one pass without building
    /// the value (see `_ByteEncoder`).
    public func encodeBytes(_ value: some Encodable) throws(CanonicalEncodingError) -> [UInt8] {
        do { return try _ByteEncoder.bytes(of: value) } catch let error as CanonicalEncodingError { throw error } catch {
            throw CanonicalEncodingError(path: "", reason: String(describing: error))
        }
    }

    private func slot(_ value: some Encodable) throws(CanonicalEncodingError) -> EncodingNode.Slot {
        do { return try _CanonicalEncoder.slot(value, path: []) } catch let error as CanonicalEncodingError { throw error } catch {
            throw CanonicalEncodingError(path: "", reason: String(describing: error))
        }
    }
}

/// Why a value could not be encoded (a float, an unsigned value over `Int64.max`).
public struct CanonicalEncodingError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { path.isEmpty ? reason : "\(path): \(reason)" }
}

/// A type whose canonical form is one byte string (`.bytes`): `Hash256` and `SigningPublicKey`. The
/// canonical coder writes and reads these two by their bytes, recognised by metatype (asking the
/// runtime whether an arbitrary type conforms costs a conformance-cache lookup per value); their
/// `Codable` conformance (for other coders, e.g. JSON) is the lowercase hex string of the bytes.
public protocol CanonicalBytesRepresentable: Codable {
    /// The bytes written to the canonical form.
    var canonicalBytes: [UInt8] { get }
    /// Reads the canonical bytes; nil when they are not a valid value.
    init?(canonicalBytes: [UInt8])
    /// What valid bytes look like, for error messages ("32 bytes").
    static var canonicalBytesExpectation: String { get }
}

extension CanonicalBytesRepresentable {
    public init(from decoder: any Decoder) throws {
        let hex = try decoder.singleValueContainer().decode(String.self)
        guard let bytes = Hex.decode(hex), let value = Self(canonicalBytes: bytes) else {
            throw DecodingError.dataCorruptedError(in: try decoder.singleValueContainer(),
                                                   debugDescription: "expected \(Self.canonicalBytesExpectation) in hex")
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(Hex.encode(canonicalBytes))
    }
}

extension Hash256: CanonicalBytesRepresentable {
    public var canonicalBytes: [UInt8] { bytes }
    public init?(canonicalBytes: [UInt8]) { self.init(bytes: canonicalBytes) }
    public static var canonicalBytesExpectation: String { "32 bytes" }
}

extension SigningPublicKey: CanonicalBytesRepresentable {
    public var canonicalBytes: [UInt8] { rawValue }
    public init?(canonicalBytes: [UInt8]) { self.init(rawValue: canonicalBytes) }
    public static var canonicalBytesExpectation: String { "a valid Ed25519 public key" }
}

/// A decoded value that checks itself (ranges, lengths, counts) right after decoding. The canonical
/// decoder calls `validate()` on every such value it decodes, at any depth, and reports a thrown
/// error with the value's path.
public protocol CanonicalValidated {
    func validate() throws
}

/// Decodes typed values from canonical values. See `CanonicalEncoder` for the mapping.
public struct CanonicalDecoder: Sendable {
    public init() {}

    /// Decodes `type` from `value`; strict (see the type documentation).
    public func decode<T: Decodable>(_ type: T.Type, from value: CanonicalValue) throws(CanonicalDecodingError) -> T {
        let decoder = _CanonicalDecoder(value)
        let result: T
        do {
            result = try decoder.decodeValue(T.self, from: value)
        } catch let error as CanonicalDecodingError {
            throw error
        } catch {
            throw CanonicalDecodingError(path: "", problem: .invalid(error))
        }
        guard decoder.keysRead == decoder.keysSeen else { throw Self.unknownKey(T.self, value) }
        return result
    }

    /// The slow path once the key counts differ: decode again recording every key each map was
    /// asked for, and name the first (by path, then key) that nobody read.
    private static func unknownKey<T: Decodable>(_: T.Type, _ value: CanonicalValue) -> CanonicalDecodingError {
        let decoder = _CanonicalDecoder(value)
        decoder.log = KeyLog()
        _ = try? decoder.decodeValue(T.self, from: value)
        for entry in decoder.log?.entries ?? [] {
            if let extra = entry.map.keys.filter({ !entry.read.contains($0) }).sorted().first {
                return CanonicalDecodingError(path: CanonicalCoding.join(entry.path, extra), problem: .unknownKey)
            }
        }
        return CanonicalDecodingError(path: "", problem: .unknownKey)
    }
}

/// Why a canonical value did not decode into a type; `path` names the value (`items[2].code`).
public struct CanonicalDecodingError: Error, Sendable, CustomStringConvertible {
    public enum Problem: Sendable {
        /// A map holds a key the type does not define.
        case unknownKey
        /// A required key is absent.
        case missingKey
        /// The value has another canonical type; `expected` is e.g. "a string".
        case typeMismatch(expected: String, found: String)
        /// The value has the right type but not a valid value (an integer out of range, 31 bytes
        /// for a hash).
        case invalidValue(String)
        /// The type's own decoding or `validate()` threw this error.
        case invalid(any Error)
    }

    /// Dotted path of the value, with list indices: `grantee.kind`, `entries[3].record`.
    public let path: String
    public let problem: Problem

    public init(path: String, problem: Problem) { (self.path, self.problem) = (path, problem) }

    /// The error a type or its `validate()` threw, if that is the problem.
    public var underlying: (any Error)? { if case .invalid(let error) = problem { error } else { nil } }

    public var description: String {
        let name = path.isEmpty ? "the value" : "“\(path)”"
        switch problem {
        case .unknownKey: return "unknown argument \(name)"
        case .missingKey: return "\(name) is required"
        case .typeMismatch(let expected, let found): return "\(name) must be \(expected), not \(found)"
        case .invalidValue(let what): return "\(name) must be \(what)"
        case .invalid(let error): return path.isEmpty ? "\(error)" : "\(path): \(error)"
        }
    }
}

// MARK: - Shared helpers

enum CanonicalCoding {
    /// Values the coder writes itself rather than through their `Encodable` conformance.
    /// (Metatype comparisons, not `as?`: an empty `[String]` casts to `[UInt8]`.)
    static func special<T: Encodable>(_ value: T) -> CanonicalValue? {
        if T.self == [UInt8].self { return .bytes(unsafeBitCast(value, to: [UInt8].self)) }
        if T.self == CanonicalValue.self { return unsafeBitCast(value, to: CanonicalValue.self) }
        if T.self == Hash256.self { return .bytes(unsafeBitCast(value, to: Hash256.self).canonicalBytes) }
        if T.self == SigningPublicKey.self { return .bytes(unsafeBitCast(value, to: SigningPublicKey.self).canonicalBytes) }
        return nil
    }

    static func kind(_ value: CanonicalValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "a boolean"
        case .int: "an integer"
        case .bytes: "bytes"
        case .string: "a string"
        case .list: "a list"
        case .map: "a map"
        }
    }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    static func render(_ path: [any CodingKey]) -> String {
        var out = ""
        for key in path {
            if let index = key.intValue, key is IndexKey { out += "[\(index)]" } else { out = join(out, key.stringValue) }
        }
        return out
    }
}

/// A list position in a coding path.
struct IndexKey: CodingKey {
    let intValue: Int?
    var stringValue: String { "\(intValue ?? 0)" }
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

/// A string key for nested containers and super decoders.
struct NameKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// The keys each map was asked for, recorded only on the slow unknown-key path.
final class KeyLog {
    final class Entry {
        let path: String
        let map: CanonicalMap
        var read = Set<String>()
        init(path: String, map: CanonicalMap) { (self.path, self.map) = (path, map) }
    }
    var entries: [Entry] = []
}

// MARK: - Decoder

final class _CanonicalDecoder: Decoder {
    /// The value the next `container` call reads.
    var current: CanonicalValue
    /// Keys of the enclosing values (not of the current one's fields).
    var path: [any CodingKey] = []
    /// Entries of every map a keyed container was opened on, and keys found in them.
    var keysSeen = 0
    var keysRead = 0
    var log: KeyLog?

    init(_ value: CanonicalValue) {
        current = value
        path.reserveCapacity(8)
    }

    var codingPath: [any CodingKey] { path }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .map(let map) = current else { throw mismatch("a map", current, at: nil) }
        keysSeen += map.count
        var entry: KeyLog.Entry?
        if let log {
            entry = KeyLog.Entry(path: CanonicalCoding.render(path), map: map)
            log.entries.append(entry!)
        }
        return KeyedDecodingContainer(KeyedContainer<Key>(decoder: self, map: map, entry: entry))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .list(let list) = current else { throw mismatch("a list", current, at: nil) }
        return UnkeyedContainer(decoder: self, list: list)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleContainer(decoder: self, value: current) }

    // MARK: errors

    func pathString(_ key: (any CodingKey)?) -> String {
        guard let key else { return CanonicalCoding.render(path) }
        return CanonicalCoding.render(path + [key])
    }

    func mismatch(_ expected: String, _ value: CanonicalValue, at key: (any CodingKey)?) -> CanonicalDecodingError {
        CanonicalDecodingError(path: pathString(key), problem: .typeMismatch(expected: expected, found: CanonicalCoding.kind(value)))
    }

    func invalid(_ what: String, at key: (any CodingKey)?) -> CanonicalDecodingError {
        CanonicalDecodingError(path: pathString(key), problem: .invalidValue(what))
    }

    // MARK: values

    /// Decodes any value at `key` (nil at the top level): the byte types directly, everything else
    /// through its `Decodable` conformance with this decoder moved onto the value, then validated.
    func decodeValue<T: Decodable>(_ type: T.Type, from value: CanonicalValue, at key: (any CodingKey)? = nil) throws -> T {
        if T.self == Hash256.self {
            guard case .bytes(let bytes) = value else { throw mismatch("bytes", value, at: key) }
            guard let hash = Hash256(bytes: bytes) else { throw invalid("32 bytes", at: key) }
            return unsafeBitCast(hash, to: T.self)
        }
        if T.self == [UInt8].self {
            guard case .bytes(let bytes) = value else { throw mismatch("bytes", value, at: key) }
            return unsafeBitCast(bytes, to: T.self)
        }
        if T.self == CanonicalValue.self { return unsafeBitCast(value, to: T.self) }
        if T.self == SigningPublicKey.self {
            guard case .bytes(let bytes) = value else { throw mismatch("bytes", value, at: key) }
            guard let decoded = SigningPublicKey(canonicalBytes: bytes) else { throw invalid(SigningPublicKey.canonicalBytesExpectation, at: key) }
            return unsafeBitCast(decoded, to: T.self)
        }
        if let key { path.append(key) }
        let saved = current
        current = value
        defer {
            current = saved
            if key != nil { path.removeLast() }
        }
        do {
            let decoded = try T(from: self)
            try Self.validate(decoded)
            return decoded
        } catch let error as CanonicalDecodingError {
            throw error
        } catch {
            throw CanonicalDecodingError(path: CanonicalCoding.render(path), problem: .invalid(error))
        }
    }

    /// Calls `validate()` when `T` conforms to `CanonicalValidated`; the type is asked first, so a
    /// decoded value is boxed into an existential only when it has checks to run.
    @inline(__always)
    static func validate<T>(_ value: T) throws {
        guard T.self is any CanonicalValidated.Type, let validated = value as? any CanonicalValidated else { return }
        try validated.validate()
    }

    func string(_ value: CanonicalValue, at key: (any CodingKey)?) throws -> String {
        guard case .string(let s) = value else { throw mismatch("a string", value, at: key) }
        return s
    }

    func bool(_ value: CanonicalValue, at key: (any CodingKey)?) throws -> Bool {
        guard case .bool(let b) = value else { throw mismatch("true or false", value, at: key) }
        return b
    }

    func integer<I: FixedWidthInteger>(_ type: I.Type, _ value: CanonicalValue, at key: (any CodingKey)?) throws -> I {
        guard case .int(let i) = value else { throw mismatch("an integer", value, at: key) }
        guard let exact = I(exactly: i) else { throw invalid("an integer in \(I.min)…\(I.max)", at: key) }
        return exact
    }

    func float(_ value: CanonicalValue, at key: (any CodingKey)?) -> CanonicalDecodingError {
        CanonicalDecodingError(path: pathString(key), problem: .typeMismatch(expected: "a float (the canonical encoding has none)",
                                                                             found: CanonicalCoding.kind(value)))
    }
}

struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: _CanonicalDecoder
    let map: CanonicalMap
    let entry: KeyLog.Entry?

    var codingPath: [any CodingKey] { decoder.path }
    var allKeys: [Key] { map.keys.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { map[key.stringValue] != nil }

    /// The value at `key`, counted as read; throws when absent.
    @inline(__always)
    private func required(_ key: Key) throws -> CanonicalValue {
        entry?.read.insert(key.stringValue)
        guard let value = map[key.stringValue] else {
            throw CanonicalDecodingError(path: decoder.pathString(key), problem: .missingKey)
        }
        decoder.keysRead += 1
        return value
    }

    /// The value at `key`, counted as read, or nil when absent.
    @inline(__always)
    private func optional(_ key: Key) -> CanonicalValue? {
        entry?.read.insert(key.stringValue)
        guard let value = map[key.stringValue] else { return nil }
        decoder.keysRead += 1
        return value
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        guard let value = map[key.stringValue] else { return true }
        if case .null = value {
            entry?.read.insert(key.stringValue)
            decoder.keysRead += 1
            return true
        }
        return false
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decoder.bool(try required(key), at: key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decoder.string(try required(key), at: key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { throw decoder.float(try required(key), at: key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { throw decoder.float(try required(key), at: key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decoder.integer(Int.self, try required(key), at: key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decoder.integer(Int8.self, try required(key), at: key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decoder.integer(Int16.self, try required(key), at: key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decoder.integer(Int32.self, try required(key), at: key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decoder.integer(Int64.self, try required(key), at: key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decoder.integer(UInt.self, try required(key), at: key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decoder.integer(UInt8.self, try required(key), at: key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decoder.integer(UInt16.self, try required(key), at: key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decoder.integer(UInt32.self, try required(key), at: key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decoder.integer(UInt64.self, try required(key), at: key) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try decoder.decodeValue(T.self, from: try required(key), at: key) }

    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try optional(key).map { try decoder.bool($0, at: key) } }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try optional(key).map { try decoder.string($0, at: key) } }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? {
        if let value = optional(key) { throw decoder.float(value, at: key) }
        return nil
    }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? {
        if let value = optional(key) { throw decoder.float(value, at: key) }
        return nil
    }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try optional(key).map { try decoder.integer(Int.self, $0, at: key) } }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try optional(key).map { try decoder.integer(Int8.self, $0, at: key) } }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try optional(key).map { try decoder.integer(Int16.self, $0, at: key) } }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try optional(key).map { try decoder.integer(Int32.self, $0, at: key) } }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try optional(key).map { try decoder.integer(Int64.self, $0, at: key) } }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try optional(key).map { try decoder.integer(UInt.self, $0, at: key) } }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try optional(key).map { try decoder.integer(UInt8.self, $0, at: key) } }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try optional(key).map { try decoder.integer(UInt16.self, $0, at: key) } }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try optional(key).map { try decoder.integer(UInt32.self, $0, at: key) } }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try optional(key).map { try decoder.integer(UInt64.self, $0, at: key) } }
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        try optional(key).map { try decoder.decodeValue(T.self, from: $0, at: key) }
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        let value = try required(key)
        return try decoder.with(value, at: key) { try decoder.container(keyedBy: NestedKey.self) }
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        let value = try required(key)
        guard case .list(let list) = value else { throw decoder.mismatch("a list", value, at: key) }
        return UnkeyedContainer(decoder: decoder, list: list)
    }

    func superDecoder() throws -> any Decoder { throw CanonicalDecodingError(path: decoder.pathString(nil), problem: .invalidValue("flat (no super decoder)")) }
    func superDecoder(forKey key: Key) throws -> any Decoder { try superDecoder() }
}

extension _CanonicalDecoder {
    /// Runs `body` with the current value moved to `value` (for nested containers).
    func with<R>(_ value: CanonicalValue, at key: any CodingKey, _ body: () throws -> R) throws -> R {
        let saved = current
        current = value
        path.append(key)
        defer {
            current = saved
            path.removeLast()
        }
        return try body()
    }
}

struct UnkeyedContainer: UnkeyedDecodingContainer {
    let decoder: _CanonicalDecoder
    let list: [CanonicalValue]
    private(set) var currentIndex = 0

    init(decoder: _CanonicalDecoder, list: [CanonicalValue]) { (self.decoder, self.list) = (decoder, list) }

    var codingPath: [any CodingKey] { decoder.path }
    var count: Int? { list.count }
    var isAtEnd: Bool { currentIndex >= list.count }

    private mutating func next() throws -> (CanonicalValue, IndexKey) {
        let key = IndexKey(currentIndex)
        guard currentIndex < list.count else {
            throw CanonicalDecodingError(path: decoder.pathString(key), problem: .missingKey)
        }
        defer { currentIndex += 1 }
        return (list[currentIndex], key)
    }

    mutating func decodeNil() throws -> Bool {
        guard currentIndex < list.count, case .null = list[currentIndex] else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { let (v, k) = try next(); return try decoder.bool(v, at: k) }
    mutating func decode(_ type: String.Type) throws -> String { let (v, k) = try next(); return try decoder.string(v, at: k) }
    mutating func decode(_ type: Double.Type) throws -> Double { let (v, k) = try next(); throw decoder.float(v, at: k) }
    mutating func decode(_ type: Float.Type) throws -> Float { let (v, k) = try next(); throw decoder.float(v, at: k) }
    mutating func decode(_ type: Int.Type) throws -> Int { let (v, k) = try next(); return try decoder.integer(Int.self, v, at: k) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { let (v, k) = try next(); return try decoder.integer(Int8.self, v, at: k) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { let (v, k) = try next(); return try decoder.integer(Int16.self, v, at: k) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { let (v, k) = try next(); return try decoder.integer(Int32.self, v, at: k) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { let (v, k) = try next(); return try decoder.integer(Int64.self, v, at: k) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { let (v, k) = try next(); return try decoder.integer(UInt.self, v, at: k) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { let (v, k) = try next(); return try decoder.integer(UInt8.self, v, at: k) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { let (v, k) = try next(); return try decoder.integer(UInt16.self, v, at: k) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { let (v, k) = try next(); return try decoder.integer(UInt32.self, v, at: k) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { let (v, k) = try next(); return try decoder.integer(UInt64.self, v, at: k) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { let (v, k) = try next(); return try decoder.decodeValue(T.self, from: v, at: k) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let (value, key) = try next()
        return try decoder.with(value, at: key) { try decoder.container(keyedBy: NestedKey.self) }
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let (value, key) = try next()
        guard case .list(let list) = value else { throw decoder.mismatch("a list", value, at: key) }
        return UnkeyedContainer(decoder: decoder, list: list)
    }

    mutating func superDecoder() throws -> any Decoder {
        throw CanonicalDecodingError(path: decoder.pathString(nil), problem: .invalidValue("flat (no super decoder)"))
    }
}

struct SingleContainer: SingleValueDecodingContainer {
    let decoder: _CanonicalDecoder
    let value: CanonicalValue

    var codingPath: [any CodingKey] { decoder.path }

    func decodeNil() -> Bool { if case .null = value { true } else { false } }
    func decode(_ type: Bool.Type) throws -> Bool { try decoder.bool(value, at: nil) }
    func decode(_ type: String.Type) throws -> String { try decoder.string(value, at: nil) }
    func decode(_ type: Double.Type) throws -> Double { throw decoder.float(value, at: nil) }
    func decode(_ type: Float.Type) throws -> Float { throw decoder.float(value, at: nil) }
    func decode(_ type: Int.Type) throws -> Int { try decoder.integer(Int.self, value, at: nil) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decoder.integer(Int8.self, value, at: nil) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decoder.integer(Int16.self, value, at: nil) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decoder.integer(Int32.self, value, at: nil) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decoder.integer(Int64.self, value, at: nil) }
    func decode(_ type: UInt.Type) throws -> UInt { try decoder.integer(UInt.self, value, at: nil) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decoder.integer(UInt8.self, value, at: nil) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decoder.integer(UInt16.self, value, at: nil) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decoder.integer(UInt32.self, value, at: nil) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decoder.integer(UInt64.self, value, at: nil) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        // A wrapper decoding its wrapped value: the same value, so no path step.
        if T.self == Hash256.self || T.self == [UInt8].self || T.self == CanonicalValue.self || T.self == SigningPublicKey.self {
            return try decoder.decodeValue(T.self, from: value)
        }
        let decoded = try T(from: decoder)
        try _CanonicalDecoder.validate(decoded)
        return decoded
    }
}

// MARK: - Encoder

/// A value under construction: a finished value, or a map or list still being filled.
final class EncodingNode {
    /// A container's entry: a finished value (no node of its own), or a node still being filled.
    enum Slot {
        case value(CanonicalValue)
        case node(EncodingNode)

        var value: CanonicalValue {
            switch self {
            case .value(let v): v
            case .node(let node): node.value
            }
        }
    }

    enum State {
        case empty
        case value(CanonicalValue)
        /// Entries in the order they were encoded (the value sorts them).
        case map([(String, Slot)])
        case list([Slot])
    }
    var state: State = .empty

    var value: CanonicalValue {
        switch state {
        case .empty: .null
        case .value(let v): v
        case .map(let entries):
            .map(CanonicalMap(canonical: CanonicalMap.canonicalOrder(of: entries, key: \.0).map { CanonicalMap.Entry(key: entries[$0].0, value: entries[$0].1.value) }))
        case .list(let items): .list(items.map(\.value))
        }
    }
}

final class _CanonicalEncoder: Encoder {
    let node = EncodingNode()
    let path: [any CodingKey]

    init(path: [any CodingKey]) { self.path = path }

    var codingPath: [any CodingKey] { path }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .map = node.state {} else { node.state = .map([]) }
        return KeyedEncodingContainer(KeyedEncoding<Key>(node: node, path: path))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .list = node.state {} else { node.state = .list([]) }
        return UnkeyedEncoding(node: node, path: path)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleEncoding(node: node, path: path) }

    /// Encodes any value: one the coder writes itself (a byte type, a raw `CanonicalValue`) as a
    /// finished value, anything else into a node of its own. `path` is built only in that case.
    static func slot(_ value: some Encodable, path: @autoclosure () -> [any CodingKey]) throws -> EncodingNode.Slot {
        if let special = CanonicalCoding.special(value) { return .value(special) }
        let encoder = _CanonicalEncoder(path: path())
        try value.encode(to: encoder)
        return .node(encoder.node)
    }

    /// `path` is built only for the error, so an integer field costs no allocation.
    static func int<I: FixedWidthInteger>(_ value: I, path: @autoclosure () -> [any CodingKey]) throws -> CanonicalValue {
        guard let exact = Int64(exactly: value) else {
            throw CanonicalEncodingError(path: CanonicalCoding.render(path()), reason: "\(value) does not fit a signed 64-bit integer")
        }
        return .int(exact)
    }

    static func float(path: [any CodingKey]) -> CanonicalEncodingError {
        CanonicalEncodingError(path: CanonicalCoding.render(path), reason: "the canonical encoding has no floats")
    }
}

struct KeyedEncoding<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: EncodingNode
    let path: [any CodingKey]
    var codingPath: [any CodingKey] { path }

    private func set(_ key: Key, _ slot: EncodingNode.Slot) {
        guard case .map(var entries) = node.state else { return }
        node.state = .empty
        entries.append((key.stringValue, slot))
        node.state = .map(entries)
    }

    private func set(_ key: Key, _ child: EncodingNode) { set(key, .node(child)) }

    private func set(_ key: Key, _ value: CanonicalValue) { set(key, .value(value)) }

    mutating func encodeNil(forKey key: Key) { set(key, .null) }
    mutating func encode(_ value: Bool, forKey key: Key) { set(key, .bool(value)) }
    mutating func encode(_ value: String, forKey key: Key) { set(key, .string(value)) }
    mutating func encode(_ value: Double, forKey key: Key) throws { throw _CanonicalEncoder.float(path: path + [key]) }
    mutating func encode(_ value: Float, forKey key: Key) throws { throw _CanonicalEncoder.float(path: path + [key]) }
    mutating func encode(_ value: Int, forKey key: Key) throws { set(key, try _CanonicalEncoder.int(value, path: path + [key])) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { set(key, try _CanonicalEncoder.int(value, path: path + [key])) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { set(key, try _CanonicalEncoder.int(value, path: path + [key])) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { set(key, try _CanonicalEncoder.int(value, path: path + [key])) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { set(key, .int(value)) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { set(key, try _CanonicalEncoder.int(value, path: path + [key])) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { set(key, try _CanonicalEncoder.int(value, path: path + [key])) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { set(key, try _CanonicalEncoder.int(value, path: path + [key])) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { set(key, try _CanonicalEncoder.int(value, path: path + [key])) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { set(key, try _CanonicalEncoder.int(value, path: path + [key])) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { set(key, try _CanonicalEncoder.slot(value, path: path + [key])) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let child = EncodingNode()
        child.state = .map([])
        set(key, child)
        return KeyedEncodingContainer(KeyedEncoding<NestedKey>(node: child, path: path + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = EncodingNode()
        child.state = .list([])
        set(key, child)
        return UnkeyedEncoding(node: child, path: path + [key])
    }

    mutating func superEncoder() -> any Encoder { _CanonicalEncoder(path: path) }
    mutating func superEncoder(forKey key: Key) -> any Encoder {
        let encoder = _CanonicalEncoder(path: path + [key])
        set(key, encoder.node)
        return encoder
    }
}

/// What the unkeyed and single-value encoding containers (of the value tree and of the byte
/// encoder) write alike: every integer width through one `encodeInteger`, which refuses a value
/// outside Int64, and floats refused, since the canonical encoding has none.
protocol CanonicalScalarEncoding {
    /// The path of the value about to be written, for errors.
    var nextPath: [any CodingKey] { get }
    /// Writes an integer as the next value; throws when it does not fit a signed 64-bit integer.
    mutating func encodeInteger<I: FixedWidthInteger>(_ value: I) throws
}

extension CanonicalScalarEncoding {
    mutating func encode(_ value: Double) throws { throw _CanonicalEncoder.float(path: nextPath) }
    mutating func encode(_ value: Float) throws { throw _CanonicalEncoder.float(path: nextPath) }
    mutating func encode(_ value: Int) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int8) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int16) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int32) throws { try encodeInteger(value) }
    mutating func encode(_ value: Int64) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt8) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt16) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt32) throws { try encodeInteger(value) }
    mutating func encode(_ value: UInt64) throws { try encodeInteger(value) }
}

struct UnkeyedEncoding: UnkeyedEncodingContainer, CanonicalScalarEncoding {
    let node: EncodingNode
    let path: [any CodingKey]
    var codingPath: [any CodingKey] { path }
    var count: Int { if case .list(let items) = node.state { items.count } else { 0 } }

    private func append(_ slot: EncodingNode.Slot) {
        guard case .list(var items) = node.state else { return }
        node.state = .empty
        items.append(slot)
        node.state = .list(items)
    }

    private func append(_ child: EncodingNode) { append(.node(child)) }

    private func append(_ value: CanonicalValue) { append(.value(value)) }

    private var nextKey: IndexKey { IndexKey(count) }

    mutating func encodeNil() { append(.null) }
    mutating func encode(_ value: Bool) { append(.bool(value)) }
    mutating func encode(_ value: String) { append(.string(value)) }
    var nextPath: [any CodingKey] { path + [nextKey] }
    mutating func encodeInteger<I: FixedWidthInteger>(_ value: I) throws { append(try _CanonicalEncoder.int(value, path: nextPath)) }
    mutating func encode<T: Encodable>(_ value: T) throws { append(try _CanonicalEncoder.slot(value, path: path + [nextKey])) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let child = EncodingNode()
        child.state = .map([])
        let key = nextKey
        append(child)
        return KeyedEncodingContainer(KeyedEncoding<NestedKey>(node: child, path: path + [key]))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let child = EncodingNode()
        child.state = .list([])
        let key = nextKey
        append(child)
        return UnkeyedEncoding(node: child, path: path + [key])
    }

    mutating func superEncoder() -> any Encoder {
        let encoder = _CanonicalEncoder(path: path + [nextKey])
        append(encoder.node)
        return encoder
    }
}

struct SingleEncoding: SingleValueEncodingContainer, CanonicalScalarEncoding {
    let node: EncodingNode
    let path: [any CodingKey]
    var codingPath: [any CodingKey] { path }

    private func set(_ value: CanonicalValue) { node.state = .value(value) }

    mutating func encodeNil() { set(.null) }
    mutating func encode(_ value: Bool) { set(.bool(value)) }
    mutating func encode(_ value: String) { set(.string(value)) }
    var nextPath: [any CodingKey] { path }
    mutating func encodeInteger<I: FixedWidthInteger>(_ value: I) throws { set(try _CanonicalEncoder.int(value, path: path)) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        switch try _CanonicalEncoder.slot(value, path: path) {
        case .value(let v): node.state = .value(v)
        case .node(let child): node.state = child.state
        }
    }
}

// MARK: - Byte encoder

/// `encodeBytes`: writes a value's canonical bytes in one pass, with no `CanonicalValue` or node per
/// value. Values encoded through a container are written in place as they come, into one buffer:
/// a map's entries (key, then value) land one after another, so a map is finished by reordering
/// the byte ranges of its entries into canonical key order (usually by a per-`CodingKeys` order
/// computed once, see `KeyOrder`) and setting the entry count in the header it started with.
/// Integers, strings, booleans and the byte types are written directly even when they reach the
/// encoder through the generic `encode(_:)` (array elements, dictionary values, optionals), so they
/// cost no frame, no container and no path step.
///
/// The one encoder object follows the value down: encoding a nested value pushes a frame (where
/// its bytes start and what they are), runs its `encode(to:)` against the same encoder, finishes the
/// frame and pops it. Containers handed out by `nestedContainer`/`superEncoder` may be filled in
/// any order relative to their parent's, so each gets an encoder of its own whose bytes are
/// spliced into the parent's when the parent finishes.
final class _ByteEncoder: Encoder {
    struct Frame {
        enum Kind { case empty, single, map, list }
        /// Distinguishes a frame from a later one at the same depth, for containers kept too long.
        let id: Int
        /// Where the value's bytes begin (its map or list header, once it has one).
        let start: Int
        var kind = Kind.empty
        /// A map: the index of its first entry in `entries`.
        var entriesBase = 0
        /// A list: the number of elements.
        var count = 0
        /// A map: the `CodingKey` type of all its entries, nil once a second type joined in.
        var keyType: ObjectIdentifier?
        /// Values filled out of line (nested containers, super encoders), spliced in at `finish`.
        var deferred: [Deferred] = []
    }

    struct Deferred {
        /// Where the child's bytes go.
        var offset: Int
        /// A map: the entry (index from the frame's `entriesBase`) the bytes belong to.
        let entry: Int
        let child: _ByteEncoder
    }

    /// A map entry of an unfinished map: its key and where its bytes (key, then value) start.
    struct Entry {
        let key: String
        var start: Int
    }

    @exclusivity(unchecked) var writer = CanonicalWriter(capacity: 256)
    @exclusivity(unchecked) var frames: [Frame] = []
    /// The entries of every unfinished map, innermost map last.
    @exclusivity(unchecked) var entries: [Entry] = []
    @exclusivity(unchecked) var path: [any CodingKey]
    /// A misuse found where no error can be thrown (a container used after its value finished).
    @exclusivity(unchecked) var failure: CanonicalEncodingError?
    @exclusivity(unchecked) private var nextID = 1
    /// Scratch space for finishing maps.
    @exclusivity(unchecked) private var order: [Int] = []
    @exclusivity(unchecked) private var ranks: [Int] = []
    @exclusivity(unchecked) private var spare: [UInt8] = []

    init(path: [any CodingKey]) {
        self.path = path
        frames.reserveCapacity(8)
        entries.reserveCapacity(32)
        frames.append(Frame(id: 0, start: 0))
    }

    var codingPath: [any CodingKey] { path }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let frame = frames.count - 1
        beginMap(frame, keyType: ObjectIdentifier(Key.self))
        return KeyedEncodingContainer(KeyedBytes<Key>(encoder: self, frame: frame, id: frames[frame].id))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let frame = frames.count - 1
        beginList(frame)
        return UnkeyedBytes(encoder: self, frame: frame, id: frames[frame].id)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        let frame = frames.count - 1
        return SingleBytes(encoder: self, frame: frame, id: frames[frame].id)
    }

    // MARK: top level

    /// The canonical bytes of `value`.
    static func bytes(of value: some Encodable) throws -> [UInt8] {
        let encoder = _ByteEncoder(path: [])
        if try !encoder.writeDirect(value, path: []) {
            try value.encode(to: encoder)
            encoder.finishRoot()
        }
        if let failure = encoder.failure { throw failure }
        return encoder.writer.bytes
    }

    /// Finishes the root frame; for a child encoder, once its parent finishes.
    func finishRoot() {
        guard frames.count == 1 else {
            fail("a value was still being encoded when its container finished")
            return
        }
        finish(0)
    }

    func fail(_ reason: String) {
        if failure == nil { failure = CanonicalEncodingError(path: CanonicalCoding.render(path), reason: reason) }
    }

    // MARK: frames

    /// True when a container of frame `frame` (created as `id`) may write: its value is the one
    /// being encoded. Anything else is a container used after its value finished or out of turn.
    @inline(__always)
    func writable(_ frame: Int, _ id: Int) -> Bool {
        if frame == frames.count - 1, frames[frame].id == id { return true }
        fail("a container was used after its value was finished, or while a nested value was being encoded")
        return false
    }

    /// Drops whatever frame `frame` held (a value replaced by another).
    private func reset(_ frame: Int) {
        let start = frames[frame].start
        if frames[frame].kind == .empty, writer.bytes.count == start { return }
        if writer.bytes.count > start { writer.bytes.removeSubrange(start...) }
        if frames[frame].kind == .map { entries.removeSubrange(frames[frame].entriesBase...) }
        frames[frame].kind = .empty
        frames[frame].count = 0
        frames[frame].keyType = nil
        frames[frame].deferred = []
    }

    /// Makes frame `frame` a map (keeping it if it is one), its header a placeholder until `finish`.
    func beginMap(_ frame: Int, keyType: ObjectIdentifier) {
        if frames[frame].kind == .map {
            if frames[frame].keyType != keyType { frames[frame].keyType = nil }
            return
        }
        reset(frame)
        frames[frame].kind = .map
        frames[frame].entriesBase = entries.count
        frames[frame].keyType = keyType
        writer.writeHeaderPlaceholder(.map)
    }

    func beginList(_ frame: Int) {
        if frames[frame].kind == .list { return }
        reset(frame)
        frames[frame].kind = .list
        writer.writeHeaderPlaceholder(.list)
    }

    /// Frame `frame` becomes a single value, written next.
    func beginSingle(_ frame: Int) {
        reset(frame)
        frames[frame].kind = .single
    }

    /// Starts a map entry of the top frame; its value is written next.
    @inline(__always)
    func beginEntry(_ key: String) {
        entries.append(Entry(key: key, start: writer.bytes.count))
        writer.writeMapKey(key)
    }

    /// Encodes `value` as a value of its own at `key` (a map key or list index), in place.
    @inline(__always)
    func encodeNested<T: Encodable, K: CodingKey>(_ value: T, key: K) throws {
        if try writeDirect(value, path: path + [key]) { return }
        frames.append(Frame(id: nextID, start: writer.bytes.count))
        nextID += 1
        path.append(key)
        try value.encode(to: self)
        finish(frames.count - 1)
        frames.removeLast()
        path.removeLast()
    }

    /// Writes the values the coder writes itself; false for anything else. `path` only for errors.
    @inline(__always)
    func writeDirect<T: Encodable>(_ value: T, path: @autoclosure () -> [any CodingKey]) throws -> Bool {
        if T.self == Int64.self { writer.write(int: unsafeBitCast(value, to: Int64.self)); return true }
        if T.self == String.self { writer.write(string: unsafeBitCast(value, to: String.self)); return true }
        if T.self == Hash256.self { writer.write(hash: unsafeBitCast(value, to: Hash256.self)); return true }
        if T.self == Bool.self { writer.writeBool(unsafeBitCast(value, to: Bool.self)); return true }
        if T.self == [UInt8].self { writer.write(bytes: unsafeBitCast(value, to: [UInt8].self)); return true }
        if T.self == UInt64.self { try writeInt(unsafeBitCast(value, to: UInt64.self), path: path()); return true }
        if T.self == Int.self { try writeInt(unsafeBitCast(value, to: Int.self), path: path()); return true }
        if T.self == SigningPublicKey.self { writer.write(bytes: unsafeBitCast(value, to: SigningPublicKey.self).canonicalBytes); return true }
        if T.self == CanonicalValue.self { writer.write(unsafeBitCast(value, to: CanonicalValue.self)); return true }
        return false
    }

    /// `path` is evaluated only for the error.
    @inline(__always)
    func writeInt<I: FixedWidthInteger>(_ value: I, path: @autoclosure () -> [any CodingKey]) throws {
        writer.write(int: try _CanonicalEncoder.int(value, path: path()).intValue!)
    }

    /// A child encoder for a container filled out of line, its bytes to go at the end of the top
    /// frame (of its entry `entry` when that is a map).
    func deferChild(_ frame: Int, entry: Int, path: [any CodingKey]) -> _ByteEncoder {
        let child = _ByteEncoder(path: path)
        frames[frame].deferred.append(Deferred(offset: writer.bytes.count, entry: entry, child: child))
        return child
    }

    // MARK: finishing

    /// Completes frame `frame` (the top one): splices in deferred children, orders a map's entries
    /// and sets the count in its header.
    func finish(_ frame: Int) {
        let start = frames[frame].start
        switch frames[frame].kind {
        case .empty: writer.write(.null)
        case .single: break
        case .list:
            splice(frame, map: false)
            writer.setHeaderCount(at: start, frames[frame].count)
        case .map:
            splice(frame, map: true)
            let base = frames[frame].entriesBase
            let count = orderEntries(base: base, keyType: frames[frame].keyType)
            writer.setHeaderCount(at: start, count)
            entries.removeSubrange(base...)
        }
    }

    /// Inserts the bytes of out-of-line children, last first, moving the entries after each.
    private func splice(_ frame: Int, map: Bool) {
        let deferred = frames[frame].deferred
        guard !deferred.isEmpty else { return }
        frames[frame].deferred = []
        let base = frames[frame].entriesBase
        for item in deferred.reversed() {
            let child = item.child
            child.finishRoot()
            if let failure = child.failure, self.failure == nil { self.failure = failure }
            let bytes = child.writer.bytes
            writer.bytes.insert(contentsOf: bytes, at: item.offset)
            if map {
                var i = base + item.entry + 1
                while i < entries.count {
                    entries[i].start += bytes.count
                    i += 1
                }
            }
        }
    }

    /// Puts the entries from `base` on in canonical key order (a repeated key by its last value);
    /// returns how many remain.
    private func orderEntries(base: Int, keyType: ObjectIdentifier?) -> Int {
        let n = entries.count - base
        if n < 2 { return n }
        order.removeAll(keepingCapacity: true)
        var known: KeyOrder?
        if let keyType { known = KeyOrder.cached(keyType) }
        if let known, known.ranks(of: entries, from: base, into: &ranks) {
            // Sort the positions by rank (insertion sort: a struct's handful of fields).
            order.append(contentsOf: 0..<n)
            for i in 1..<n {
                var j = i
                while j > 0, ranks[order[j - 1]] > ranks[order[j]] {
                    order.swapAt(j - 1, j)
                    j -= 1
                }
            }
        } else {
            order = CanonicalMap.canonicalOrder(of: Array(entries[base...]), key: \.key)
            if let keyType, order.count == n { KeyOrder.remember(keyType, keys: entries[base...].map(\.key), sorted: order) }
        }
        if order.count == n, order.indices.allSatisfy({ order[$0] == $0 }) { return n }
        // Rewrite the entries in order from a copy of their bytes.
        let contentStart = entries[base].start
        let end = writer.bytes.count
        spare.removeAll(keepingCapacity: true)
        spare.append(contentsOf: writer.bytes[contentStart..<end])
        writer.bytes.removeSubrange(contentStart...)
        for i in order {
            let from = entries[base + i].start - contentStart
            let to = (i + 1 < n ? entries[base + i + 1].start : end) - contentStart
            writer.bytes.append(contentsOf: spare[from..<to])
        }
        return order.count
    }
}

/// The canonical order of a `CodingKey` type's keys, learnt from the first map of that type with
/// the most distinct keys seen so far: the keys in the order they were encoded, and the rank of each
/// in UTF-8 byte order. A later map whose keys are a subsequence of those (the same type with some
/// optional fields left out) is ordered by the ranks, with no string comparisons beyond matching;
/// any other map is sorted by its keys (and teaches the cache if it has more keys).
final class KeyOrder: Sendable {
    let keys: [String]
    let rank: [Int]

    init(keys: [String], rank: [Int]) { (self.keys, self.rank) = (keys, rank) }

    private static let cache = Mutex<[ObjectIdentifier: KeyOrder]>([:])

    static func cached(_ type: ObjectIdentifier) -> KeyOrder? { cache.withLock { $0[type] } }

    /// Types with more keys than this are not cached (a dictionary's keys come and go).
    static let keysMax = 64

    /// Records the order of distinct `keys` (`sorted` are their positions in canonical order).
    static func remember(_ type: ObjectIdentifier, keys: [String], sorted: [Int]) {
        guard keys.count <= keysMax else { return }
        var rank = [Int](repeating: 0, count: keys.count)
        for (r, position) in sorted.enumerated() { rank[position] = r }
        let order = KeyOrder(keys: keys, rank: rank)
        cache.withLock { table in
            if (table[type]?.keys.count ?? 0) < keys.count { table[type] = order }
        }
    }

    /// The rank of each entry from `base` on, when their keys are a subsequence of `keys` (matched
    /// by UTF-8 bytes); false otherwise.
    func ranks(of entries: [_ByteEncoder.Entry], from base: Int, into out: inout [Int]) -> Bool {
        out.removeAll(keepingCapacity: true)
        var j = 0
        for i in base..<entries.count {
            let key = entries[i].key
            while j < keys.count, !Self.sameBytes(keys[j], key) { j += 1 }
            if j == keys.count { return false }
            out.append(rank[j])
            j += 1
        }
        return true
    }

    /// The same UTF-8 bytes (not `==`, which equates canonically equivalent strings). Two strings
    /// with the same representation (the same small string, the same literal or storage) are the
    /// same bytes, which is how a type's keys usually meet again; others are compared byte by byte.
    @inline(__always)
    static func sameBytes(_ a: String, _ b: String) -> Bool {
        let (x, y) = (unsafeBitCast(a, to: (UInt64, UInt64).self), unsafeBitCast(b, to: (UInt64, UInt64).self))
        return x == y || String.utf8Order(a, b) == 0
    }
}

struct KeyedBytes<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: _ByteEncoder
    let frame: Int
    let id: Int
    var codingPath: [any CodingKey] { encoder.path }

    /// Starts the entry for `key`, or false when the container may no longer write (or its value
    /// became something other than a map, whose writes are dropped as the tree encoder drops them).
    @inline(__always)
    private func entry(_ key: Key) -> Bool {
        guard encoder.writable(frame, id), encoder.frames[frame].kind == .map else { return false }
        encoder.beginEntry(key.stringValue)
        return true
    }

    @inline(__always)
    private func int<I: FixedWidthInteger>(_ value: I, _ key: Key) throws {
        if entry(key) { try encoder.writeInt(value, path: encoder.path + [key]) }
    }

    mutating func encodeNil(forKey key: Key) { if entry(key) { encoder.writer.write(.null) } }
    mutating func encode(_ value: Bool, forKey key: Key) { if entry(key) { encoder.writer.writeBool(value) } }
    mutating func encode(_ value: String, forKey key: Key) { if entry(key) { encoder.writer.write(string: value) } }
    mutating func encode(_ value: Double, forKey key: Key) throws { throw _CanonicalEncoder.float(path: encoder.path + [key]) }
    mutating func encode(_ value: Float, forKey key: Key) throws { throw _CanonicalEncoder.float(path: encoder.path + [key]) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try int(value, key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try int(value, key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try int(value, key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try int(value, key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { if entry(key) { encoder.writer.write(int: value) } }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try int(value, key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try int(value, key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try int(value, key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try int(value, key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try int(value, key) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        if entry(key) { try encoder.encodeNested(value, key: key) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let child = deferred(key)
        child.beginMap(0, keyType: ObjectIdentifier(NestedKey.self))
        return KeyedEncodingContainer(KeyedBytes<NestedKey>(encoder: child, frame: 0, id: 0))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = deferred(key)
        child.beginList(0)
        return UnkeyedBytes(encoder: child, frame: 0, id: 0)
    }

    /// Like the tree encoder, a super encoder without a key is not part of the value.
    mutating func superEncoder() -> any Encoder { _ByteEncoder(path: encoder.path) }
    mutating func superEncoder(forKey key: Key) -> any Encoder { deferred(key) }

    /// An entry at `key` whose value a child encoder fills out of line (a detached one when this
    /// container may no longer write).
    private func deferred(_ key: Key) -> _ByteEncoder {
        let path = encoder.path + [key]
        guard entry(key) else { return _ByteEncoder(path: path) }
        let index = encoder.entries.count - 1 - encoder.frames[frame].entriesBase
        return encoder.deferChild(frame, entry: index, path: path)
    }
}

struct UnkeyedBytes: UnkeyedEncodingContainer, CanonicalScalarEncoding {
    let encoder: _ByteEncoder
    let frame: Int
    let id: Int
    var codingPath: [any CodingKey] { encoder.path }
    var count: Int {
        guard frame < encoder.frames.count, encoder.frames[frame].id == id, encoder.frames[frame].kind == .list else { return 0 }
        return encoder.frames[frame].count
    }

    /// Counts the next element, or false when the container may no longer write.
    @inline(__always)
    private func element() -> Bool {
        guard encoder.writable(frame, id), encoder.frames[frame].kind == .list else { return false }
        encoder.frames[frame].count += 1
        return true
    }

    /// The key of the element just counted.
    private var lastKey: IndexKey { IndexKey(encoder.frames[frame].count - 1) }

    var nextPath: [any CodingKey] { encoder.path + [IndexKey(count)] }

    @inline(__always)
    mutating func encodeInteger<I: FixedWidthInteger>(_ value: I) throws {
        if element() { try encoder.writeInt(value, path: encoder.path + [lastKey]) }
    }

    mutating func encodeNil() { if element() { encoder.writer.write(.null) } }
    mutating func encode(_ value: Bool) { if element() { encoder.writer.writeBool(value) } }
    mutating func encode(_ value: String) { if element() { encoder.writer.write(string: value) } }
    mutating func encode<T: Encodable>(_ value: T) throws {
        if element() { try encoder.encodeNested(value, key: lastKey) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let child = deferred()
        child.beginMap(0, keyType: ObjectIdentifier(NestedKey.self))
        return KeyedEncodingContainer(KeyedBytes<NestedKey>(encoder: child, frame: 0, id: 0))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let child = deferred()
        child.beginList(0)
        return UnkeyedBytes(encoder: child, frame: 0, id: 0)
    }

    mutating func superEncoder() -> any Encoder { deferred() }

    /// The next element, filled out of line by a child encoder.
    private func deferred() -> _ByteEncoder {
        let key = IndexKey(count)
        guard element() else { return _ByteEncoder(path: encoder.path + [key]) }
        return encoder.deferChild(frame, entry: 0, path: encoder.path + [key])
    }
}

struct SingleBytes: SingleValueEncodingContainer, CanonicalScalarEncoding {
    let encoder: _ByteEncoder
    let frame: Int
    let id: Int
    var codingPath: [any CodingKey] { encoder.path }

    /// Clears the value for the one about to be written, or false when the container may no
    /// longer write.
    @inline(__always)
    private func begin() -> Bool {
        guard encoder.writable(frame, id) else { return false }
        encoder.beginSingle(frame)
        return true
    }

    var nextPath: [any CodingKey] { encoder.path }

    @inline(__always)
    mutating func encodeInteger<I: FixedWidthInteger>(_ value: I) throws {
        if begin() { try encoder.writeInt(value, path: encoder.path) }
    }

    mutating func encodeNil() { if begin() { encoder.writer.write(.null) } }
    mutating func encode(_ value: Bool) { if begin() { encoder.writer.writeBool(value) } }
    mutating func encode(_ value: String) { if begin() { encoder.writer.write(string: value) } }
    /// A wrapper encoding its wrapped value: the same value, so no frame and no path step; the
    /// wrapped value's containers are this frame's.
    mutating func encode<T: Encodable>(_ value: T) throws {
        guard begin() else { return }
        if try encoder.writeDirect(value, path: encoder.path) { return }
        encoder.frames[frame].kind = .empty
        try value.encode(to: encoder)
    }
}
