/// Decoding typed values straight from canonical bytes, for stored state: the same strictness and the
/// same acceptance as decoding `CanonicalValue(decoding: bytes)`, without building that value. The
/// bytes are checked once (`CanonicalReader.skipValue`); then each map a type opens is indexed (key
/// position, value position: one small array) and each field is read where it lies, so a stored
/// value costs no tree of enum values, no array per hash and no string per key.
extension CanonicalDecoder {
    /// Decodes `type` from canonical bytes; strict (see `CanonicalEncoder`).
    public func decode<T: Decodable>(_ type: T.Type, fromBytes bytes: [UInt8],
                                     limits: CanonicalLimits = .standard) throws(CanonicalDecodingError) -> T {
        var reader = CanonicalReader(bytes, limits: limits)
        do {
            try reader.skipValue()
            try reader.finish()
        } catch {
            throw CanonicalDecodingError(path: "", problem: .invalid(error))
        }
        let decoder = _ByteDecoder(bytes)
        let result: T
        do {
            result = try decoder.decodeValue(T.self, at: 0)
        } catch let error as CanonicalDecodingError {
            throw error
        } catch {
            throw CanonicalDecodingError(path: "", problem: .invalid(error))
        }
        guard decoder.keysRead == decoder.keysSeen else {
            // An unknown key: the value decoder names it (the slow path, once).
            do {
                _ = try decode(T.self, from: try CanonicalValue(decoding: bytes, limits: limits))
            } catch let error as CanonicalDecodingError {
                throw error
            } catch {}
            throw CanonicalDecodingError(path: "", problem: .unknownKey)
        }
        return result
    }
}

/// A map entry in the bytes: where its key's UTF-8 lies, and where its value starts.
struct ByteMapEntry {
    let key: Range<Int>
    let value: Int
}

final class _ByteDecoder: Decoder {
    /// Checked canonical bytes: every read below trusts their structure.
    let bytes: [UInt8]
    /// Where the value the next `container` call reads starts.
    var current = 0
    var path: [any CodingKey] = []
    var keysSeen = 0
    var keysRead = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        path.reserveCapacity(8)
    }

    var codingPath: [any CodingKey] { path }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard bytes[current] == CanonicalTag.map.rawValue else { throw mismatch("a map", at: current, key: nil) }
        var offset = current + 1
        let count = Int(varint(&offset))
        var entries: [ByteMapEntry] = []
        entries.reserveCapacity(count)
        for _ in 0..<count {
            let length = Int(varint(&offset))
            let key = offset..<offset + length
            offset += length
            entries.append(ByteMapEntry(key: key, value: offset))
            skip(&offset)
        }
        keysSeen += count
        return KeyedDecodingContainer(ByteKeyedContainer<Key>(decoder: self, entries: entries))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard bytes[current] == CanonicalTag.list.rawValue else { throw mismatch("a list", at: current, key: nil) }
        var offset = current + 1
        let count = Int(varint(&offset))
        return ByteUnkeyedContainer(decoder: self, count: count, next: offset)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { ByteSingleContainer(decoder: self, offset: current) }

    // MARK: reading checked bytes

    func varint(_ offset: inout Int) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = bytes[offset]
            offset += 1
            result |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// Steps over the value at `offset`.
    func skip(_ offset: inout Int) {
        let tag = bytes[offset]
        offset += 1
        switch CanonicalTag(rawValue: tag) {
        case .int: _ = varint(&offset)
        case .bytes, .string: offset += Int(varint(&offset))
        case .list: for _ in 0..<varint(&offset) { skip(&offset) }
        case .map:
            for _ in 0..<varint(&offset) {
                offset += Int(varint(&offset))
                skip(&offset)
            }
        case .null, .false, .true, nil: return
        }
    }

    /// Where the payload of the byte string or string at `offset` lies.
    func run(at offset: Int) -> Range<Int> {
        var start = offset + 1
        let length = Int(varint(&start))
        return start..<start + length
    }

    func kind(at offset: Int) -> String {
        switch CanonicalTag(rawValue: bytes[offset]) {
        case .null, nil: "null"
        case .false, .true: "a boolean"
        case .int: "an integer"
        case .bytes: "bytes"
        case .string: "a string"
        case .list: "a list"
        case .map: "a map"
        }
    }

    // MARK: errors

    func pathString(_ key: (any CodingKey)?) -> String {
        guard let key else { return CanonicalCoding.render(path) }
        return CanonicalCoding.render(path + [key])
    }

    func mismatch(_ expected: String, at offset: Int, key: (any CodingKey)?) -> CanonicalDecodingError {
        CanonicalDecodingError(path: pathString(key), problem: .typeMismatch(expected: expected, found: kind(at: offset)))
    }

    func invalid(_ what: String, key: (any CodingKey)?) -> CanonicalDecodingError {
        CanonicalDecodingError(path: pathString(key), problem: .invalidValue(what))
    }

    func float(at offset: Int, key: (any CodingKey)?) -> CanonicalDecodingError {
        CanonicalDecodingError(path: pathString(key), problem: .typeMismatch(expected: "a float (the canonical encoding has none)",
                                                                             found: kind(at: offset)))
    }

    // MARK: values

    func string(at offset: Int, key: (any CodingKey)?) throws -> String {
        guard bytes[offset] == CanonicalTag.string.rawValue else { throw mismatch("a string", at: offset, key: key) }
        return String(decoding: bytes[run(at: offset)], as: UTF8.self)
    }

    func bool(at offset: Int, key: (any CodingKey)?) throws -> Bool {
        switch bytes[offset] {
        case CanonicalTag.true.rawValue: return true
        case CanonicalTag.false.rawValue: return false
        default: throw mismatch("true or false", at: offset, key: key)
        }
    }

    func integer<I: FixedWidthInteger>(_ type: I.Type, at offset: Int, key: (any CodingKey)?) throws -> I {
        guard bytes[offset] == CanonicalTag.int.rawValue else { throw mismatch("an integer", at: offset, key: key) }
        var position = offset + 1
        let raw = varint(&position)
        let value = Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
        guard let exact = I(exactly: value) else { throw invalid("an integer in \(I.min)…\(I.max)", key: key) }
        return exact
    }

    func byteRun(at offset: Int, key: (any CodingKey)?) throws -> Range<Int> {
        guard bytes[offset] == CanonicalTag.bytes.rawValue else { throw mismatch("bytes", at: offset, key: key) }
        return run(at: offset)
    }

    /// Decodes any value at `offset` (`key` nil at the top level), as `_CanonicalDecoder.decodeValue`.
    func decodeValue<T: Decodable>(_ type: T.Type, at offset: Int, key: (any CodingKey)? = nil) throws -> T {
        if T.self == Hash256.self {
            guard let hash = Hash256(bytes: bytes[try byteRun(at: offset, key: key)]) else { throw invalid("32 bytes", key: key) }
            return unsafeBitCast(hash, to: T.self)
        }
        if T.self == [UInt8].self { return unsafeBitCast(Array(bytes[try byteRun(at: offset, key: key)]), to: T.self) }
        if T.self == SigningPublicKey.self {
            guard let decoded = SigningPublicKey(canonicalBytes: Array(bytes[try byteRun(at: offset, key: key)])) else {
                throw invalid(SigningPublicKey.canonicalBytesExpectation, key: key)
            }
            return unsafeBitCast(decoded, to: T.self)
        }
        if T.self == CanonicalValue.self {
            var end = offset
            skip(&end)
            // Checked already; the reader cannot fail on these bytes.
            var reader = CanonicalReader(Array(bytes[offset..<end]), limits: .init(lengthBytesMax: .max, countMax: .max, depthMax: .max))
            return unsafeBitCast(try reader.readValue(), to: T.self)
        }
        if let key { path.append(key) }
        let saved = current
        current = offset
        defer {
            current = saved
            if key != nil { path.removeLast() }
        }
        do {
            let decoded = try T(from: self)
            try _CanonicalDecoder.validate(decoded)
            return decoded
        } catch let error as CanonicalDecodingError {
            throw error
        } catch {
            throw CanonicalDecodingError(path: CanonicalCoding.render(path), problem: .invalid(error))
        }
    }

    /// Runs `body` with the current value moved to `offset` (for nested containers).
    func with<R>(_ offset: Int, at key: any CodingKey, _ body: () throws -> R) throws -> R {
        let saved = current
        current = offset
        path.append(key)
        defer {
            current = saved
            path.removeLast()
        }
        return try body()
    }
}

struct ByteKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: _ByteDecoder
    /// In canonical key order (the bytes were checked).
    let entries: [ByteMapEntry]

    var codingPath: [any CodingKey] { decoder.path }
    var allKeys: [Key] { entries.compactMap { Key(stringValue: String(decoding: decoder.bytes[$0.key], as: UTF8.self)) } }

    /// Where `key`'s value starts: a binary search comparing UTF-8 bytes.
    private func find(_ key: Key) -> Int? {
        var name = key.stringValue
        return name.withUTF8 { wanted in
            decoder.bytes.withUnsafeBufferPointer { bytes in
                var (low, high) = (0, entries.count)
                while low < high {
                    let mid = (low + high) / 2
                    let order = String.byteOrder(UnsafeBufferPointer(rebasing: bytes[entries[mid].key]), wanted)
                    if order == 0 { return entries[mid].value }
                    if order < 0 { low = mid + 1 } else { high = mid }
                }
                return nil
            }
        }
    }

    func contains(_ key: Key) -> Bool { find(key) != nil }

    @inline(__always)
    private func required(_ key: Key) throws -> Int {
        guard let offset = find(key) else { throw CanonicalDecodingError(path: decoder.pathString(key), problem: .missingKey) }
        decoder.keysRead += 1
        return offset
    }

    @inline(__always)
    private func optional(_ key: Key) -> Int? {
        guard let offset = find(key) else { return nil }
        decoder.keysRead += 1
        return offset
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        guard let offset = find(key) else { return true }
        guard decoder.bytes[offset] == CanonicalTag.null.rawValue else { return false }
        decoder.keysRead += 1
        return true
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decoder.bool(at: try required(key), key: key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decoder.string(at: try required(key), key: key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { throw decoder.float(at: try required(key), key: key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { throw decoder.float(at: try required(key), key: key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decoder.integer(Int.self, at: try required(key), key: key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decoder.integer(Int8.self, at: try required(key), key: key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decoder.integer(Int16.self, at: try required(key), key: key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decoder.integer(Int32.self, at: try required(key), key: key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decoder.integer(Int64.self, at: try required(key), key: key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decoder.integer(UInt.self, at: try required(key), key: key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decoder.integer(UInt8.self, at: try required(key), key: key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decoder.integer(UInt16.self, at: try required(key), key: key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decoder.integer(UInt32.self, at: try required(key), key: key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decoder.integer(UInt64.self, at: try required(key), key: key) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try decoder.decodeValue(T.self, at: try required(key), key: key) }

    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try optional(key).map { try decoder.bool(at: $0, key: key) } }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try optional(key).map { try decoder.string(at: $0, key: key) } }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? {
        if let offset = optional(key) { throw decoder.float(at: offset, key: key) }
        return nil
    }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? {
        if let offset = optional(key) { throw decoder.float(at: offset, key: key) }
        return nil
    }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try optional(key).map { try decoder.integer(Int.self, at: $0, key: key) } }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try optional(key).map { try decoder.integer(Int8.self, at: $0, key: key) } }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try optional(key).map { try decoder.integer(Int16.self, at: $0, key: key) } }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try optional(key).map { try decoder.integer(Int32.self, at: $0, key: key) } }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try optional(key).map { try decoder.integer(Int64.self, at: $0, key: key) } }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try optional(key).map { try decoder.integer(UInt.self, at: $0, key: key) } }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try optional(key).map { try decoder.integer(UInt8.self, at: $0, key: key) } }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try optional(key).map { try decoder.integer(UInt16.self, at: $0, key: key) } }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try optional(key).map { try decoder.integer(UInt32.self, at: $0, key: key) } }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try optional(key).map { try decoder.integer(UInt64.self, at: $0, key: key) } }
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        try optional(key).map { try decoder.decodeValue(T.self, at: $0, key: key) }
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        let offset = try required(key)
        return try decoder.with(offset, at: key) { try decoder.container(keyedBy: NestedKey.self) }
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        let offset = try required(key)
        return try decoder.with(offset, at: key) { try decoder.unkeyedContainer() }
    }

    func superDecoder() throws -> any Decoder {
        throw CanonicalDecodingError(path: decoder.pathString(nil), problem: .invalidValue("flat (no super decoder)"))
    }
    func superDecoder(forKey key: Key) throws -> any Decoder { try superDecoder() }
}

struct ByteUnkeyedContainer: UnkeyedDecodingContainer {
    let decoder: _ByteDecoder
    let count: Int?
    private(set) var currentIndex = 0
    /// Where the element at `currentIndex` starts.
    private var next: Int

    init(decoder: _ByteDecoder, count: Int, next: Int) { (self.decoder, self.count, self.next) = (decoder, count, next) }

    var codingPath: [any CodingKey] { decoder.path }
    var isAtEnd: Bool { currentIndex >= count! }

    private mutating func advance() throws -> (Int, IndexKey) {
        let key = IndexKey(currentIndex)
        guard currentIndex < count! else { throw CanonicalDecodingError(path: decoder.pathString(key), problem: .missingKey) }
        let offset = next
        decoder.skip(&next)
        currentIndex += 1
        return (offset, key)
    }

    mutating func decodeNil() throws -> Bool {
        guard currentIndex < count!, decoder.bytes[next] == CanonicalTag.null.rawValue else { return false }
        _ = try advance()
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { let (o, k) = try advance(); return try decoder.bool(at: o, key: k) }
    mutating func decode(_ type: String.Type) throws -> String { let (o, k) = try advance(); return try decoder.string(at: o, key: k) }
    mutating func decode(_ type: Double.Type) throws -> Double { let (o, k) = try advance(); throw decoder.float(at: o, key: k) }
    mutating func decode(_ type: Float.Type) throws -> Float { let (o, k) = try advance(); throw decoder.float(at: o, key: k) }
    mutating func decode(_ type: Int.Type) throws -> Int { let (o, k) = try advance(); return try decoder.integer(Int.self, at: o, key: k) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { let (o, k) = try advance(); return try decoder.integer(Int8.self, at: o, key: k) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { let (o, k) = try advance(); return try decoder.integer(Int16.self, at: o, key: k) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { let (o, k) = try advance(); return try decoder.integer(Int32.self, at: o, key: k) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { let (o, k) = try advance(); return try decoder.integer(Int64.self, at: o, key: k) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { let (o, k) = try advance(); return try decoder.integer(UInt.self, at: o, key: k) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { let (o, k) = try advance(); return try decoder.integer(UInt8.self, at: o, key: k) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { let (o, k) = try advance(); return try decoder.integer(UInt16.self, at: o, key: k) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { let (o, k) = try advance(); return try decoder.integer(UInt32.self, at: o, key: k) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { let (o, k) = try advance(); return try decoder.integer(UInt64.self, at: o, key: k) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { let (o, k) = try advance(); return try decoder.decodeValue(T.self, at: o, key: k) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let (offset, key) = try advance()
        return try decoder.with(offset, at: key) { try decoder.container(keyedBy: NestedKey.self) }
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let (offset, key) = try advance()
        return try decoder.with(offset, at: key) { try decoder.unkeyedContainer() }
    }

    mutating func superDecoder() throws -> any Decoder {
        throw CanonicalDecodingError(path: decoder.pathString(nil), problem: .invalidValue("flat (no super decoder)"))
    }
}

struct ByteSingleContainer: SingleValueDecodingContainer {
    let decoder: _ByteDecoder
    let offset: Int

    var codingPath: [any CodingKey] { decoder.path }

    func decodeNil() -> Bool { decoder.bytes[offset] == CanonicalTag.null.rawValue }
    func decode(_ type: Bool.Type) throws -> Bool { try decoder.bool(at: offset, key: nil) }
    func decode(_ type: String.Type) throws -> String { try decoder.string(at: offset, key: nil) }
    func decode(_ type: Double.Type) throws -> Double { throw decoder.float(at: offset, key: nil) }
    func decode(_ type: Float.Type) throws -> Float { throw decoder.float(at: offset, key: nil) }
    func decode(_ type: Int.Type) throws -> Int { try decoder.integer(Int.self, at: offset, key: nil) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decoder.integer(Int8.self, at: offset, key: nil) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decoder.integer(Int16.self, at: offset, key: nil) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decoder.integer(Int32.self, at: offset, key: nil) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decoder.integer(Int64.self, at: offset, key: nil) }
    func decode(_ type: UInt.Type) throws -> UInt { try decoder.integer(UInt.self, at: offset, key: nil) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decoder.integer(UInt8.self, at: offset, key: nil) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decoder.integer(UInt16.self, at: offset, key: nil) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decoder.integer(UInt32.self, at: offset, key: nil) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decoder.integer(UInt64.self, at: offset, key: nil) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        // A wrapper decoding its wrapped value: the same value, so no path step.
        if T.self == Hash256.self || T.self == [UInt8].self || T.self == CanonicalValue.self || T.self == SigningPublicKey.self {
            return try decoder.decodeValue(T.self, at: offset)
        }
        let decoded = try T(from: decoder)
        try _CanonicalDecoder.validate(decoded)
        return decoded
    }
}
