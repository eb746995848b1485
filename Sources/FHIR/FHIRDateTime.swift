public import Foundation
import LedgerCore

/// FHIR date, dateTime and instant values as half-open UTC ranges, written as fixed-width strings
/// ("2019-05-01T00:00:00Z") that sort in time order, so the index can answer range searches
/// with string comparisons.
public enum FHIRDateTime {
    /// The range a value covers: "2019" is the whole year, "2019-05-01" the whole day,
    /// "2019-05-01T10:20:30+02:00" one second. Nil if the text is not a FHIR date/dateTime.
    public static func range(_ text: String) -> (lo: String, hi: String)? {
        let scalars = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= scalars.count else { return nil }
            var value = 0
            for byte in scalars[from..<(from + count)] {
                guard (48...57).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = number(0, 4), year >= 1 else { return nil }
        var components = DateComponents(year: year, month: 1, day: 1, hour: 0, minute: 0, second: 0)
        let step: Calendar.Component
        var offsetSeconds = 0
        switch scalars.count {
        case 4: step = .year
        case 7:
            guard scalars[4] == 45, let month = number(5, 2), (1...12).contains(month) else { return nil }
            components.month = month
            step = .month
        case 10:
            guard scalars[4] == 45, scalars[7] == 45, let month = number(5, 2), let day = number(8, 2), (1...12).contains(month),
                  (1...31).contains(day) else { return nil }
            components.month = month
            components.day = day
            step = .day
        default:
            guard scalars.count >= 20, scalars[4] == 45, scalars[7] == 45, scalars[10] == 84, scalars[13] == 58, scalars[16] == 58,
                  let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2), let minute = number(14, 2),
                  let second = number(17, 2), (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
            else { return nil }
            components.month = month
            components.day = day
            components.hour = hour
            components.minute = minute
            components.second = min(second, 59)
            var rest = scalars[19...]
            if rest.first == 46 {   // fractional seconds
                rest = rest.dropFirst()
                let digits = rest.prefix { (48...57).contains($0) }
                guard !digits.isEmpty else { return nil }
                rest = rest.dropFirst(digits.count)
            }
            if rest.elementsEqual([90]) {   // Z
                offsetSeconds = 0
            } else if rest.count == 6, rest.first == 43 || rest.first == 45, Array(rest)[3] == 58 {
                let zone = Array(rest)
                guard let hours = Int(String(decoding: zone[1...2], as: UTF8.self)),
                      let minutes = Int(String(decoding: zone[4...5], as: UTF8.self)), hours < 24, minutes < 60 else { return nil }
                offsetSeconds = (hours * 3_600 + minutes * 60) * (zone[0] == 43 ? 1 : -1)
            } else {
                return nil
            }
            step = .second
        }
        guard let local = calendar.date(from: components), calendar.component(.day, from: local) == components.day else { return nil }
        let start = local.addingTimeInterval(TimeInterval(-offsetSeconds))
        guard let end = calendar.date(byAdding: step, value: 1, to: start) else { return nil }
        return (format(start), format(end))
    }

    /// The start of a value's range (how a stored value is indexed).
    public static func normalized(_ text: String) -> String? { range(text)?.lo }

    /// Milliseconds since 1970 at the start of a FHIR date/dateTime, or nil if it is not one.
    public static func milliseconds(_ text: String) -> Int64? {
        guard let lo = range(text)?.lo, let date = ISO8601DateFormatter().date(from: lo) else { return nil }
        return Int64((date.timeIntervalSince1970 * 1_000).rounded())
    }

    private static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    /// "YYYY-MM-DDThh:mm:ssZ" in UTC.
    public static func format(_ date: Date) -> String {
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ value: Int?) -> String { let v = value ?? 0; return v < 10 ? "0\(v)" : "\(v)" }
        let year = String(c.year ?? 0)
        return "\(String(repeating: "0", count: max(0, 4 - year.count)))\(year)-\(two(c.month))-\(two(c.day))T\(two(c.hour)):\(two(c.minute)):\(two(c.second))Z"
    }

    /// An instant for `meta.lastUpdated` (milliseconds, UTC).
    public static func instant(ms: Int64) -> String {
        let date = Date(timeIntervalSince1970: TimeInterval(ms) / 1_000)
        let base = format(date).dropLast()
        let millis = Int(ms % 1_000)
        return "\(base).\(millis < 10 ? "00" : millis < 100 ? "0" : "")\(millis)Z"
    }

    /// RFC 9110 IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), computed directly (a DateFormatter
    /// per response cost a tenth of a read).
    public static func httpDate(ms: Int64) -> String {
        let seconds = ms >= 0 ? ms / 1_000 : (ms - 999) / 1_000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = CivilCalendar.date(daysSince1970: Int(days))
        let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let weekday = weekdays[Int(((days % 7) + 7) % 7)]
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(weekday), \(two(Int64(day))) \(months[month - 1]) \(year) \(two(secondOfDay / 3_600)):\(two(secondOfDay % 3_600 / 60)):\(two(secondOfDay % 60)) GMT"
    }
}
