import Vault

/// The index entries of a record's latest version, listed in its vault row so that replacing or
/// erasing them deletes exact keys: 0x01 ‖ u32 token count ‖ (u32 length ‖ token)* ‖ u32 value
/// count ‖ (u32 length ‖ param UTF-8 ‖ u32 length ‖ value UTF-8)*, big-endian lengths.
enum IndexKeys {
    static let formatVersion: UInt8 = 1

    static func encode(tokens: [[UInt8]], values: [IndexedValue]) -> [UInt8] {
        var out: [UInt8] = [formatVersion]
        func append(_ count: Int) { withUnsafeBytes(of: UInt32(count).bigEndian) { out.append(contentsOf: $0) } }
        func append(bytes: some Collection<UInt8>) {
            append(bytes.count)
            out.append(contentsOf: bytes)
        }
        append(tokens.count)
        for token in tokens { append(bytes: token) }
        append(values.count)
        for value in values {
            append(bytes: value.param.utf8)
            append(bytes: value.value.utf8)
        }
        return out
    }

    static func decode(_ bytes: [UInt8]) throws(StorageError) -> (tokens: [[UInt8]], values: [IndexedValue]) {
        var offset = 1
        func count() throws(StorageError) -> Int {
            guard offset + 4 <= bytes.count else { throw .corrupt("index key list is truncated") }
            defer { offset += 4 }
            return Int(bytes[offset..<offset + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        }
        func item() throws(StorageError) -> ArraySlice<UInt8> {
            let length = try count()
            guard length <= bytes.count - offset else { throw .corrupt("index key list is truncated") }
            defer { offset += length }
            return bytes[offset..<offset + length]
        }
        guard bytes.first == formatVersion else { throw .corrupt("unknown index key list format") }
        var tokens: [[UInt8]] = []
        for _ in 0..<(try count()) { tokens.append(Array(try item())) }
        var values: [IndexedValue] = []
        for _ in 0..<(try count()) {
            let param = String(decoding: try item(), as: UTF8.self)
            values.append(IndexedValue(param: param, value: String(decoding: try item(), as: UTF8.self)))
        }
        guard offset == bytes.count else { throw .corrupt("index key list has trailing bytes") }
        return (tokens, values)
    }
}
