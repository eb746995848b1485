import LedgerCore
import Testing
@testable import Contracts

/// The stored values that write their bytes by hand (`HandWrittenStoredValue`) write exactly what
/// the `Codable` path writes: on the stored-state vectors and on random values with every optional
/// set and unset, empty and long lists, and dictionary keys whose UTF-8 order differs from `String`'s.
@Suite("Hand-written stored values")
struct HandWrittenStoredValueTests {
    static func handWritten(_ value: some HandWrittenStoredValue) -> [UInt8]? {
        var writer = CanonicalWriter()
        return value.writeCanonical(to: &writer) ? writer.bytes : nil
    }

    @Test func theVectorsEncodeToTheSameBytesByHand() throws {
        var checked = 0
        for vector in StoredStateVectorTests.vectors {
            if vector.key.hasPrefix("claims/coverage/") {
                let value = try #require(Coverage.decode(vector.bytes), "\(vector.key) does not decode")
                #expect(Self.handWritten(value) == vector.bytes, "\(vector.key)")
                checked += 1
            } else if vector.key.hasPrefix("claims/claim/") {
                let value = try #require(ClaimEntry.decode(vector.bytes), "\(vector.key) does not decode")
                #expect(Self.handWritten(value) == vector.bytes, "\(vector.key)")
                checked += 1
            }
        }
        #expect(checked >= 2)
    }

    @Test func randomCoveragesEncodeAsCodableDoes() throws {
        var random = SplitMix64(seed: 0xC0FE)
        for _ in 0..<500 {
            let coverage = Self.coverage(&random)
            let codable = try CanonicalEncoder().encodeBytes(coverage)
            #expect(Self.handWritten(coverage) == codable, "\(coverage)")
            #expect(try coverage.canonicalBytes() == codable)
            #expect(Coverage.decode(codable).map { var c = $0; c.id = coverage.id; return c } == coverage)
        }
    }

    @Test func randomClaimsEncodeAsCodableDoes() throws {
        var random = SplitMix64(seed: 0xC1A1)
        for _ in 0..<500 {
            let claim = Self.claim(&random)
            let codable = try CanonicalEncoder().encodeBytes(claim)
            #expect(Self.handWritten(claim) == codable, "\(claim)")
            #expect(try claim.canonicalBytes() == codable)
        }
    }

    @Test func theSupplyVectorsEncodeToTheSameBytesByHand() throws {
        var checked = 0
        for vector in try StoredSupplyVectorTests.vectors() where vector.key.hasPrefix("supply/unit/") {
            let value = try #require(SupplyUnit.decode(vector.bytes), "\(vector.key) does not decode")
            #expect(Self.handWritten(value) == vector.bytes, "\(vector.key)")
            checked += 1
        }
        #expect(checked >= 1)
    }

    @Test func randomUnitsEncodeAsCodableDoes() throws {
        var random = SplitMix64(seed: 0x5E41)
        for _ in 0..<500 {
            let unit = Self.unit(&random)
            let codable = try CanonicalEncoder().encodeBytes(unit)
            #expect(Self.handWritten(unit) == codable, "\(unit)")
            #expect(try unit.canonicalBytes() == codable)
            #expect(SupplyUnit.decode(codable).map { var u = $0; u.sgtin = unit.sgtin; return u } == unit)
        }
        var tall = Self.unit(&random)
        tall.custody.append(CustodyEvent(kind: .shipped, from: nil, to: nil, height: .max, timeMs: 0))
        #expect(Self.handWritten(tall) == nil, "a height above Int64.max goes to the Codable path, which refuses it")
        #expect(throws: CanonicalEncodingError.self) { try tall.canonicalBytes() }
    }

    /// A height the format cannot hold is refused by the `Codable` path, with its message.
    @Test func aHeightAboveInt64MaxFallsBackToCodable() throws {
        var random = SplitMix64(seed: 7)
        var claim = Self.claim(&random)
        claim.height = UInt64(Int64.max) + 1
        #expect(Self.handWritten(claim) == nil)
        #expect(throws: CanonicalEncodingError.self) { try claim.canonicalBytes() }
        var paid = Self.claim(&random)
        paid.payments = [Payment(amountMinor: 1, reference: Self.hash(&random), height: .max, timeMs: 0)]
        #expect(Self.handWritten(paid) == nil)
        var state = StateView(base: MemoryState())
        var refused: Rejection?
        do { try state.set("claims/claim/x", paid) } catch { refused = error }
        var codableRefusal: Rejection?
        do { try state.set("claims/claim/x", CodableOnly(paid)) } catch { codableRefusal = error }
        #expect(refused != nil)
        #expect(refused?.code == codableRefusal?.code)
        #expect(refused?.message == codableRefusal?.message)
    }

    /// The same value through the generic `Codable` write only.
    struct CodableOnly: StoredValue {
        let claim: ClaimEntry
        init(_ claim: ClaimEntry) { self.claim = claim }
        func encode(to encoder: any Encoder) throws { try claim.encode(to: encoder) }
        init(from decoder: any Decoder) throws { claim = try ClaimEntry(from: decoder) }
    }

    // MARK: Random values

    static func hash(_ random: inout SplitMix64) -> Hash256 {
        Hash256(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) })!
    }

    static func int(_ random: inout SplitMix64) -> Int64 {
        switch Int.random(in: 0..<5, using: &random) {
        case 0: 0
        case 1: Int64.random(in: -200...200, using: &random)
        case 2: [Int64.min, Int64.max, -1, 127, 128, -64, -65][Int.random(in: 0..<7, using: &random)]
        default: Int64.random(in: Int64.min...Int64.max, using: &random)
        }
    }

    static func string(_ random: inout SplitMix64) -> String {
        let pieces = ["99213", "E11.9", "", "a", "Z", "é", "e\u{301}", "\u{FB01}", "😀", "USD", "BENCH", "ab", "aa", "\u{10FFFF}"]
        return (0..<Int.random(in: 0...3, using: &random)).map { _ in pieces[Int.random(in: 0..<pieces.count, using: &random)] }.joined()
    }

    static func coverage(_ random: inout SplitMix64) -> Coverage {
        var coverage = Coverage(id: hash(&random), member: hash(&random), plan: string(&random), startMs: int(&random), endMs: int(&random))
        coverage.deductibleMetMinor = int(&random)
        coverage.outOfPocketMinor = int(&random)
        for _ in 0..<Int.random(in: 0...6, using: &random) { coverage.unitsUsed[string(&random)] = int(&random) }
        if Bool.random(using: &random) { coverage.terminatedMs = int(&random) }
        return coverage
    }

    static func unit(_ random: inout SplitMix64) -> SupplyUnit {
        func maybe(_ random: inout SplitMix64) -> Hash256? { Bool.random(using: &random) ? hash(&random) : nil }
        let custody = (0..<Int.random(in: 0...5, using: &random)).map { _ in
            CustodyEvent(kind: CustodyEventKind.allCases.randomElement(using: &random)!, from: maybe(&random), to: maybe(&random),
                         detail: Bool.random(using: &random) ? string(&random) : nil,
                         height: UInt64.random(in: 0...UInt64(Int64.max), using: &random), timeMs: int(&random))
        }
        return SupplyUnit(sgtin: SGTIN(gtin: "09501101530010", serial: string(&random)), lot: string(&random), expiryMs: int(&random),
                          manufacturer: hash(&random), owner: hash(&random), status: UnitStatus.allCases.randomElement(using: &random)!,
                          caseSSCC: Bool.random(using: &random) ? string(&random) : nil, pendingRecipient: maybe(&random),
                          shipper: maybe(&random), custody: custody)
    }

    static func claim(_ random: inout SplitMix64) -> ClaimEntry {
        let items = (0..<Int.random(in: 0...4, using: &random)).map { _ in
            ClaimItem(sequence: int(&random), code: string(&random), quantity: int(&random), unitPriceMinor: int(&random),
                      serviceMs: int(&random), record: hash(&random))
        }
        let lines = (0..<Int.random(in: 0...4, using: &random)).map { _ in
            LineAdjudication(sequence: int(&random), submittedMinor: int(&random), eligibleMinor: int(&random), unitsAllowed: int(&random),
                             patientMinor: int(&random), payerMinor: int(&random),
                             adjustments: (0..<Int.random(in: 0...3, using: &random)).map { _ in
                                 Adjustment(AdjustmentReason.allCases.randomElement(using: &random)!, amountMinor: int(&random), units: int(&random))
                             })
        }
        let outcomes: [ClaimEntry.Outcome] = [.paid, .partial, .denied]
        var claim = ClaimEntry(id: hash(&random), patient: hash(&random), provider: hash(&random), submitter: hash(&random),
                               plan: string(&random), coverage: Bool.random(using: &random) ? hash(&random) : nil, claimHash: hash(&random),
                               diagnoses: (0..<Int.random(in: 0...3, using: &random)).map { _ in string(&random) }, items: items, lines: lines,
                               outcome: outcomes.randomElement(using: &random)!, height: UInt64.random(in: 0...UInt64(Int64.max), using: &random),
                               timeMs: int(&random))
        claim.paidMinor = int(&random)
        claim.payments = (0..<Int.random(in: 0...3, using: &random)).map { _ in
            Payment(amountMinor: int(&random), reference: hash(&random), height: UInt64.random(in: 0...UInt64(Int64.max), using: &random),
                    timeMs: int(&random))
        }
        return claim
    }
}
