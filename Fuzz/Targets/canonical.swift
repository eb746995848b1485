import Contracts
@testable import LedgerCore

// libFuzzer target `canonical`: the canonical decoder (Sources/LedgerCore/Encoding), built by Fuzz/run with
// LedgerCore instrumented. Canonical form means one encoding per value, so whatever decodes must encode to
// exactly the bytes it came from; and the two decoders (values, and typed values straight from bytes) must
// accept the same inputs and build the same values.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCanonical(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let value = CanonicalFuzz.value(bytes)
    CanonicalFuzz.records(bytes)
    // Bytes that are no value fail the byte decoder's first step (`skipValue`, checked against `readValue` above).
    if let value { for type in CanonicalFuzz.storedTypes { type.check(bytes, value: value) } }
    return 0
}

enum CanonicalFuzz {
    /// `CanonicalValue(decoding:)`: reading and skipping agree, and a value re-encodes to its bytes.
    static func value(_ bytes: [UInt8]) -> CanonicalValue? {
        let value = try? CanonicalValue(decoding: bytes)
        var skipper = CanonicalReader(bytes)
        let skips: Bool
        do {
            try skipper.skipValue()
            try skipper.finish()
            skips = true
        } catch {
            skips = false
        }
        fuzzCheck((value != nil) == skips, "readValue and skipValue disagree")
        if let value { fuzzCheck(value.encoded == bytes, "a decoded value re-encodes to other bytes") }
        return value
    }

    /// The fixed-layout records: a transaction, a block header, a transaction result.
    static func records(_ bytes: [UInt8]) {
        if let transaction = try? Transaction(decoding: bytes) {
            var writer = CanonicalWriter()
            transaction.body.write(to: &writer)
            fuzzCheck(writer.bytes.count == transaction.bodyLength && writer.bytes[...] == bytes[..<transaction.bodyLength],
                         "a decoded transaction body re-encodes to other bytes")
            writer.write(bytes: transaction.signature)
            fuzzCheck(writer.bytes == bytes, "a decoded transaction re-encodes to other bytes")
        }
        if let header = try? BlockHeader(decoding: bytes) {
            fuzzCheck(header.encoded == bytes, "a decoded block header re-encodes to other bytes")
        }
        if let result = try? TransactionResult(decoding: bytes) {
            fuzzCheck(result.encoded == bytes, "a decoded transaction result re-encodes to other bytes")
        }
    }

    /// A stored state type (Contracts): decoded from bytes and from the value, the same answer; re-encoded, the same bytes.
    struct Stored: Sendable {
        let check: @Sendable ([UInt8], CanonicalValue) -> Void

        init<T: Codable & Equatable & Sendable>(_: T.Type) {
            check = { bytes, value in
                let fromBytes = try? CanonicalDecoder().decode(T.self, fromBytes: bytes)
                let fromValue = try? CanonicalDecoder().decode(T.self, from: value)
                fuzzCheck(fromBytes == fromValue, "\(T.self): the byte decoder and the value decoder disagree")
                if let fromBytes {
                    fuzzCheck((try? CanonicalEncoder().encodeBytes(fromBytes)) == bytes, "\(T.self): a decoded value re-encodes to other bytes")
                }
            }
        }

        func check(_ bytes: [UInt8], value: CanonicalValue) { check(bytes, value) }
    }

    /// The types stored state holds (Tests/ContractsTests/StoredStateVectorTests.swift lists them by key prefix).
    static let storedTypes: [Stored] = [
        Stored(Plan.self), Stored(Coverage.self), Stored(PriorAuthorization.self), Stored(ClaimEntry.self),
        Stored(RecordEntry.self), Stored(ConsentEntry.self), Stored(BreakGlassGrant.self), Stored([Delegate].self),
        Stored(Identity.self), Stored(TrialVersion.self), Stored(TrialParticipant.self), Stored(TrialDataBatch.self),
    ]
}

/// Stops the fuzzer with `message` when `condition` is false (a precondition's message is dropped in -O builds).
func fuzzCheck(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}
