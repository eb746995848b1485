public import Foundation
import LedgerCore

/// FHIR date, dateTime and instant values as half-open UTC ranges, written as fixed-width strings
/// ("2019-05-01T00:00:00Z") that sort in time order, so the index can answer range searches
/// with string comparisons.
public enum FHIRDateTime {
    /// The range a value covers: "2019" is the whole year, "2019-05-01" the whole day,
    /// "2019-05-01T10:20:30+02:00" one second. Nil if the text is not a FHIR date/dateTime.
    /// Dates are proleptic Gregorian, as FHIR's (XML Schema's) are, in integer arithmetic.
    public static func range(_ text: String) -> (lo: String, hi: String)? {
        seconds(text).map { (format(seconds: $0.lo), format(seconds: $0.hi)) }
    }

    /// The range a value covers, in seconds since 1970 (UTC), half open.
    public static func seconds(_ text: String) -> (lo: Int64, hi: Int64)? {
        var text = text
        return text.withUTF8 { scalars -> (lo: Int64, hi: Int64)? in
            func number(_ from: Int, _ count: Int) -> Int? {
                guard from + count <= scalars.count else { return nil }
                var value = 0
                for byte in scalars[from..<(from + count)] {
                    guard (48...57).contains(byte) else { return nil }
                    value = value * 10 + Int(byte - 48)
                }
                return value
            }
            func day(_ year: Int, _ month: Int, _ day: Int) -> Int64 {
                Int64(CivilCalendar.daysSince1970(year: year, month: month, day: day)) * 86_400
            }
            guard let year = number(0, 4), year >= 1 else { return nil }
            switch scalars.count {
            case 4:
                return (day(year, 1, 1), day(year + 1, 1, 1))
            case 7:
                guard scalars[4] == 45, let month = number(5, 2), (1...12).contains(month) else { return nil }
                return (day(year, month, 1), month == 12 ? day(year + 1, 1, 1) : day(year, month + 1, 1))
            case 10:
                guard scalars[4] == 45, scalars[7] == 45, let month = number(5, 2), let date = number(8, 2), (1...12).contains(month),
                      (1...daysIn(month, of: year)).contains(date) else { return nil }
                let start = day(year, month, date)
                return (start, start + 86_400)
            default:
                guard scalars.count >= 20, scalars[4] == 45, scalars[7] == 45, scalars[10] == 84, scalars[13] == 58, scalars[16] == 58,
                      let month = number(5, 2), let date = number(8, 2), let hour = number(11, 2), let minute = number(14, 2),
                      let second = number(17, 2), (1...12).contains(month), (1...daysIn(month, of: year)).contains(date),
                      hour < 24, minute < 60, second < 61
                else { return nil }
                var rest = 19
                if scalars[rest] == 46 {   // fractional seconds
                    rest += 1
                    let digitsStart = rest
                    while rest < scalars.count, (48...57).contains(scalars[rest]) { rest += 1 }
                    guard rest > digitsStart else { return nil }
                }
                let offsetSeconds: Int
                if rest + 1 == scalars.count, scalars[rest] == 90 {   // Z
                    offsetSeconds = 0
                } else if rest + 6 == scalars.count, scalars[rest] == 43 || scalars[rest] == 45, scalars[rest + 3] == 58,
                          let hours = number(rest + 1, 2), let minutes = number(rest + 4, 2), hours < 24, minutes < 60 {
                    offsetSeconds = (hours * 3_600 + minutes * 60) * (scalars[rest] == 43 ? 1 : -1)
                } else {
                    return nil
                }
                let start = day(year, month, date) + Int64(hour * 3_600 + minute * 60 + min(second, 59) - offsetSeconds)
                return (start, start + 1)
            }
        }
    }

    /// The days of a month of the proleptic Gregorian calendar.
    static func daysIn(_ month: Int, of year: Int) -> Int {
        switch month {
        case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// The start of a value's range (how a stored value is indexed).
    public static func normalized(_ text: String) -> String? { range(text)?.lo }

    /// Milliseconds since 1970 at the start of a FHIR date/dateTime, or nil if it is not one.
    public static func milliseconds(_ text: String) -> Int64? { seconds(text).map { $0.lo * 1_000 } }

    /// "YYYY-MM-DDThh:mm:ssZ" in UTC.
    public static func format(_ date: Date) -> String { format(seconds: Int64(date.timeIntervalSince1970.rounded(.down))) }

    /// "YYYY-MM-DDThh:mm:ssZ" in UTC, `seconds` after 1970 (before it, if negative).
    public static func format(seconds: Int64) -> String {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        let (year, month, day) = CivilCalendar.date(daysSince1970: Int(days))
        var bytes: [UInt8] = []
        bytes.reserveCapacity(20)
        let yearText = String(year)
        for _ in yearText.utf8.count..<max(4, yearText.utf8.count) { bytes.append(48) }
        bytes.append(contentsOf: yearText.utf8)
        func two(_ value: Int, then separator: UInt8) {
            bytes.append(48 + UInt8(value / 10))
            bytes.append(48 + UInt8(value % 10))
            bytes.append(separator)
        }
        bytes.append(45)
        two(month, then: 45)
        two(day, then: 84)
        two(secondOfDay / 3_600, then: 58)
        two(secondOfDay % 3_600 / 60, then: 58)
        two(secondOfDay % 60, then: 90)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// An instant for `meta.lastUpdated` (milliseconds, UTC).
    public static func instant(ms: Int64) -> String {
        let seconds = ms >= 0 ? ms / 1_000 : (ms - 999) / 1_000
        let base = format(seconds: seconds).dropLast()
        let millis = Int(ms - seconds * 1_000)
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
