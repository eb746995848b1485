import Foundation
import LedgerCore
import Testing
import Vault

/// Birth dates in the blind index (security review finding 10): a date is stored as keyed tokens of
/// its year, month and day, and a date range is searched as the fewest such tokens that cover it.
/// The rule a range must keep: a date matches [from, to) exactly when from ≤ its midnight < to.
@Suite("Blind dates: year, month and day tokens cover a range exactly")
struct BlindDateTests {
    static let indexer = BlindIndexer(key: try! BlindIndexKey(secret: Array(repeating: 9, count: 32)))

    static func matches(_ date: String, from: String?, to: String?) -> Bool {
        let stored = Set(indexer.dateTokens(field: .birthDate, value: date))
        return !stored.isDisjoint(with: indexer.dateRangeTokens(field: .birthDate, from: from, to: to))
    }

    /// (birth date, from, to, matches)
    static let rows: [(String, String?, String?, Bool)] = [
        ("1974-12-25", "1974-01-01T00:00:00Z", "1975-01-01T00:00:00Z", true),   // eq 1974
        ("1974-12-25", "1974-12-01T00:00:00Z", "1975-01-01T00:00:00Z", true),   // eq 1974-12
        ("1974-12-25", "1974-12-25T00:00:00Z", "1974-12-26T00:00:00Z", true),   // eq 1974-12-25
        ("1974-12-24", "1974-12-25T00:00:00Z", "1974-12-26T00:00:00Z", false),
        ("1974-12-26", "1974-12-25T00:00:00Z", "1974-12-26T00:00:00Z", false),
        ("1974-12-25", nil, "1975-01-01T00:00:00Z", true),                       // lt 1975
        ("1975-01-01", nil, "1975-01-01T00:00:00Z", false),
        ("1975-01-01", "1975-01-01T00:00:00Z", nil, true),                       // ge 1975
        ("1974-12-31", "1975-01-01T00:00:00Z", nil, false),
        ("1974-12-25", "1974-12-25T08:30:00Z", nil, false),                      // ge a time later that day: its midnight is before
        ("1974-12-26", "1974-12-25T08:30:00Z", nil, true),
        ("1974-12-25", nil, "1974-12-25T08:30:00Z", true),                       // lt a time that day: its midnight is before
        ("2000-02-29", "2000-02-29T00:00:00Z", "2000-03-01T00:00:00Z", true),   // a leap day
        ("1900-03-01", "1900-02-28T00:00:00Z", "1900-03-02T00:00:00Z", true),   // 1900 is no leap year
        ("1799-06-01", nil, "1800-01-01T00:00:00Z", false),                      // open ranges reach 1800…2199 only
        ("1799-06-01", "1799-01-01T00:00:00Z", "1800-01-01T00:00:00Z", true),   // a range that names the year still finds it
        ("1984-07-12T00:00:00Z", "1984-07-01T00:00:00Z", "1984-08-01T00:00:00Z", true),  // the normalized form the indexer stores
    ]

    @Test(arguments: 0..<rows.count)
    func row(_ index: Int) {
        let (date, from, to, expected) = Self.rows[index]
        #expect(Self.matches(date, from: from, to: to) == expected, "\(date) in [\(from ?? "…"), \(to ?? "…"))")
    }

    @Test func notADateHasNoTokens() {
        for text in ["", "197", "1974-13-01", "1974-13", "1974-02-30", "1974/12/25", "19741225", "abcd-ef-gh", "abcd"] {
            #expect(Self.indexer.dateTokens(field: .birthDate, value: text).isEmpty, "\(text)")
        }
        // A year and a month are dates too (intervals, with tokens of their own precision).
        #expect(Self.indexer.dateTokens(field: .birthDate, value: "1974").count == 2)
        #expect(Self.indexer.dateTokens(field: .birthDate, value: "1974-12").count == 3)
        #expect(Self.indexer.dateRangeTokens(field: .birthDate, from: "not a date", to: nil).isEmpty)
    }

    /// The tokens of one field are not those of another, and no token repeats within a cover.
    @Test func coversAreSmallAndFieldSeparated() {
        let everything = Self.indexer.dateRangeTokens(field: .birthDate, from: nil, to: nil)
        #expect(everything.count == BlindIndexer.dateYears.count, "an open range is one token a year")
        let worst = Self.indexer.dateRangeTokens(field: .birthDate, from: "1900-01-02T00:00:00Z", to: "2199-12-31T00:00:00Z")
        #expect(worst.count < 500 && Set(worst).count == worst.count, "\(worst.count) tokens")
        #expect(Set(Self.indexer.dateTokens(field: .birthDate, value: "1974-12-25"))
            .isDisjoint(with: Self.indexer.dateTokens(field: .gender, value: "1974-12-25")))
    }

    /// Property: for seeded random dates and random bounds (midnights and times of day, open or
    /// not), the token test agrees with comparing the date's midnight to the bounds.
    @Test func randomRangesAgreeWithTheRule() {
        var random = SplitMix64(seed: 20261205)
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        let start = formatter.date(from: "1800-01-01T00:00:00Z")!.timeIntervalSince1970
        let end = formatter.date(from: "2199-12-31T00:00:00Z")!.timeIntervalSince1970
        func instant(near: TimeInterval, spreadDays: Int, midnight: Bool) -> String {
            var seconds = near + TimeInterval(Int.random(in: -spreadDays...spreadDays, using: &random)) * 86_400
            seconds = min(max(seconds, start), end)
            seconds -= seconds.truncatingRemainder(dividingBy: 86_400)
            if !midnight { seconds += TimeInterval(Int.random(in: 1..<86_400, using: &random)) }
            return formatter.string(from: Date(timeIntervalSince1970: seconds))
        }
        for _ in 0..<500 {
            let center = TimeInterval.random(in: start..<end, using: &random)
            let date = instant(near: center, spreadDays: 0, midnight: true)
            let spread = [3, 40, 400, 4_000].randomElement(using: &random)!
            let from = Bool.random(using: &random) ? nil : instant(near: center, spreadDays: spread, midnight: Bool.random(using: &random))
            let to = Bool.random(using: &random) ? nil : instant(near: center, spreadDays: spread, midnight: Bool.random(using: &random))
            let expected = (from.map { $0 <= date } ?? true) && (to.map { date < $0 } ?? true)
            #expect(Self.matches(date, from: from, to: to) == expected, "\(date) in [\(from ?? "…"), \(to ?? "…"))")
        }
    }
}
