import LedgerCore
import Testing
@testable import Contracts

/// `claims.submit`'s arguments decoded by hand (`ContractMethod.decodedByHand`) agree with the
/// `Codable` path: whatever the hand-written decoder accepts, `Codable` decodes to the same value;
/// whatever it declines goes to `Codable`, so refusals keep their codes and messages. Checked on
/// valid arguments and on random mutations of them (keys dropped, added or renamed, values of
/// another type or length, invalid codes and counts, repeated sequences).
@Suite("Arguments decoded by hand")
struct ArgumentsByHandTests {
    typealias Submit = ClaimsContract.Submit

    static func codable(_ args: CanonicalValue) -> Submit? { try? CanonicalDecoder().decode(Submit.self, from: args) }

    @Test func validArgumentsAreDecodedByHandToTheCodableValue() throws {
        var random = SplitMix64(seed: 0x5B)
        for _ in 0..<300 {
            let submit = Self.submit(&random)
            let args = submit.args
            let byHand = try #require(Submit.decodedByHand(args), "declined \(args)")
            #expect(byHand == submit)
            #expect(Self.codable(args) == byHand)
            #expect(try Submit(args: args) == submit)
        }
    }

    @Test func mutatedArgumentsAreAcceptedByHandOnlyWhenCodableAcceptsThemAlike() throws {
        var random = SplitMix64(seed: 0x5C)
        var accepted = 0, declined = 0
        for _ in 0..<3_000 {
            let args = Self.mutate(Self.submit(&random).args, &random)
            let codable = Self.codable(args)
            if let byHand = Submit.decodedByHand(args) {
                accepted += 1
                #expect(codable == byHand, "\(args)")
            } else {
                declined += 1
                // Declined: `init(args:)` is the Codable path's answer, refusal included.
                var viaInit: Rejection?, viaCodable: Rejection?
                do { _ = try Submit(args: args) } catch { viaInit = error }
                do { _ = try CanonicalDecoder().decode(Submit.self, from: args) } catch { viaCodable = Rejection(decoding: error) }
                #expect(viaInit == viaCodable)
            }
        }
        #expect(accepted > 100)
        #expect(declined > 1_000)
    }

    // MARK: Random arguments

    static func hash(_ random: inout SplitMix64) -> Hash256 {
        Hash256(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) })!
    }

    static func submit(_ random: inout SplitMix64) -> Submit {
        let items = (0..<Int.random(in: 1...4, using: &random)).map { index in
            ClaimItem(sequence: Int64(index + 1), code: ["99213", "A0425", "J1100.1"].randomElement(using: &random)!,
                      quantity: Int64.random(in: 1...20, using: &random), unitPriceMinor: Int64.random(in: 0...1_000_000, using: &random),
                      serviceMs: Int64.random(in: 0...2_000_000_000_000, using: &random), record: hash(&random))
        }
        return Submit(claim: hash(&random), plan: ["BENCH", "GOLD-1", "a.b_c"].randomElement(using: &random)!, patient: hash(&random),
                      memberID: hash(&random), claimHash: hash(&random),
                      diagnoses: (0..<Int.random(in: 1...3, using: &random)).map { _ in ["E11.9", "I10", "Z00.00"].randomElement(using: &random)! },
                      items: items)
    }

    /// One to three random changes anywhere in the value.
    static func mutate(_ value: CanonicalValue, _ random: inout SplitMix64) -> CanonicalValue {
        var value = value
        for _ in 0..<Int.random(in: 0...3, using: &random) { value = mutateOnce(value, &random) }
        return value
    }

    static func mutateOnce(_ value: CanonicalValue, _ random: inout SplitMix64) -> CanonicalValue {
        let replacements: [CanonicalValue] = [
            .null, .bool(true), .int(0), .int(-1), .int(Int64.max), .int(501), .string(""), .string("E11.9"), .string("e11"),
            .string("BAD PLAN"), .bytes([]), .bytes([UInt8](repeating: 7, count: 31)), .bytes([UInt8](repeating: 7, count: 32)),
            .list([]), .list([.string("E11.9")]), .map([:]),
        ]
        switch value {
        case .map(let map) where !map.isEmpty && Int.random(in: 0..<3, using: &random) > 0:
            var entries = map.entries.map { ($0.key, $0.value) }
            let index = Int.random(in: 0..<entries.count, using: &random)
            switch Int.random(in: 0..<4, using: &random) {
            case 0: entries.remove(at: index)
            case 1: entries.append((["extra", "claim", "unitPrice", "unitPriceMinor"].randomElement(using: &random)!, .int(1)))
            case 2: entries[index].1 = replacements.randomElement(using: &random)!
            default: entries[index].1 = mutateOnce(entries[index].1, &random)
            }
            return .map(CanonicalMap(entries))
        case .list(let list) where !list.isEmpty && Int.random(in: 0..<3, using: &random) > 0:
            var items = list
            let index = Int.random(in: 0..<items.count, using: &random)
            switch Int.random(in: 0..<3, using: &random) {
            case 0: items.remove(at: index)
            case 1: items.append(items[index])
            default: items[index] = mutateOnce(items[index], &random)
            }
            return .list(items)
        default:
            return replacements.randomElement(using: &random)!
        }
    }
}
