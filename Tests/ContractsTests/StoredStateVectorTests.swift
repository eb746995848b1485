import Foundation
import LedgerCore
import Testing
@testable import Contracts

/// Stored state written by the hand-written coders that came before `StoredValue` (the contract
/// tests, the simulator's CI seeds and the HTTP workflow tests, sampled per key shape): every value
/// must decode with today's types and encode back to the same bytes, or a chain written before
/// would no longer replay to the same state root.
@Suite("Stored-state vectors")
struct StoredStateVectorTests {
    struct Vector: CustomStringConvertible {
        let key: String
        let bytes: [UInt8]
        var description: String { key }
    }

    static let vectors: [Vector] = {
        let url = Bundle.module.url(forResource: "Vectors", withExtension: nil)!.appendingPathComponent("stored-state.tsv")
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: "\t")
            guard parts.count == 2, let bytes = Hex.decode(String(parts[1])) else { return nil }
            return Vector(key: String(parts[0]), bytes: bytes)
        }
    }()

    /// Decodes as `T` and encodes again.
    static func roundTrip<T: StoredValue>(_: T.Type) -> @Sendable ([UInt8]) throws -> [UInt8]? {
        { bytes in
            guard let value = T.decode(bytes) else { return nil }
            // How state is written (bytes straight from the coder), checked against the value's encoding.
            let written = try CanonicalEncoder().encodeBytes(value)
            return written == (try CanonicalEncoder().encode(value).encoded) ? written : []
        }
    }

    /// Which type each key prefix holds.
    static let types: [(prefix: String, roundTrip: @Sendable ([UInt8]) throws -> [UInt8]?)] = [
        ("claims/plan/", roundTrip(Plan.self)),
        ("claims/coverage/", roundTrip(Coverage.self)),
        ("claims/auth/", roundTrip(PriorAuthorization.self)),
        ("claims/claim/", roundTrip(ClaimEntry.self)),
        ("records/record/", roundTrip(RecordEntry.self)),
        ("records/version/", roundTrip(RecordEntry.self)),
        ("consent/grant/", roundTrip(ConsentEntry.self)),
        ("consent/break-glass/", roundTrip(BreakGlassGrant.self)),
        ("consent/notice/", roundTrip(BreakGlassGrant.self)),
        ("consent/delegates/", roundTrip([Delegate].self)),
        ("membership/identity/", roundTrip(Identity.self)),
        ("trials/trial/", roundTrip(TrialHead.self)),
        ("trials/version/", roundTrip(TrialVersion.self)),
        ("trials/participant/", roundTrip(TrialParticipant.self)),
        ("trials/batch/", roundTrip(TrialDataBatch.self)),
        ("trials/result/", roundTrip(TrialResult.self)),
        ("trials/flag/", roundTrip(OutcomeSwitchFlag.self)),
        ("trials/criteria/", roundTrip(TrialCriteria.self)),
    ]

    /// Keys that hold plain values (counters, id lists, markers), not a stored type.
    static let plainValues = [
        "system/sequence/", "anchor/", "audit/", "membership/key/", "membership/orderer/", "records/patient/",
        "consent/count/", "consent/index/", "claims/coverages/", "claims/auths/", "claims/by-patient/", "claims/by-provider/",
        "claims/line/", "trials/crf/", "trials/match/", "trials/match-count/",
    ]

    @Test func theVectorsLoaded() {
        #expect(Self.vectors.count > 100)
    }

    @Test(arguments: Self.types.map(\.prefix))
    func everyStoredValueDecodesAndEncodesToTheSameBytes(_ prefix: String) throws {
        let roundTrip = try #require(Self.types.first { $0.prefix == prefix }).roundTrip
        let vectors = Self.vectors.filter { $0.key.hasPrefix(prefix) }
        #expect(!vectors.isEmpty, "no vector under \(prefix)")
        for vector in vectors {
            let again = try roundTrip(vector.bytes)
            #expect(again != nil, "\(vector.key) does not decode")
            #expect(again == vector.bytes, "\(vector.key) encodes to other bytes")
        }
    }
}
