import FHIR
import Testing
import Vault

/// Date searches read index ranges, not every row: the ranges a prefix scans (by interval starts,
/// and by ends for intervals longer than a day, the only ones with end rows) must reach every row
/// the prefix's test accepts. Checked here against the test run on every stored interval.
@Suite("FHIR: date searches scan every matching row")
struct DateScanTests {
    /// Observations' `effective[x]`: instants, seconds, days, months, years, periods (open too).
    static let stored: [String] = [
        #""effectiveInstant":"2020-06-15T12:00:00.123Z""#, #""effectiveDateTime":"2020-06-15T23:59:59Z""#,
        #""effectiveDateTime":"2020-06-14T00:00:00+14:00""#, #""effectiveDateTime":"2020-06-16T00:00:00-12:00""#,
        #""effectiveDateTime":"2020-06-15""#, #""effectiveDateTime":"2020-06-14""#, #""effectiveDateTime":"2020-06-16""#,
        #""effectiveDateTime":"2020-06""#, #""effectiveDateTime":"2020""#, #""effectiveDateTime":"2019-12-31""#,
        #""effectivePeriod":{"start":"2020-06-15T10:00:00Z","end":"2020-06-15T11:00:00Z"}"#,
        #""effectivePeriod":{"start":"2020-06-14T12:00:00Z","end":"2020-06-15T12:00:00Z"}"#,
        #""effectivePeriod":{"start":"2020-06-01","end":"2020-06-30"}"#,
        #""effectivePeriod":{"start":"2020-06-15"}"#, #""effectivePeriod":{"end":"2020-06-15"}"#,
        #""effectivePeriod":{"start":"2010-01-01","end":"2030-01-01"}"#,
    ]
    static let searched = ["2020-06-15", "2020-06-15T12:00:00Z", "2020-06", "2020", "2020-06-14T23:59:59Z", "2020-06-16", "2019"]

    @Test(arguments: ["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"])
    func everyMatchingRowIsScanned(prefix: String) throws {
        var shortWithoutEndRow = 0
        for (index, element) in Self.stored.enumerated() {
            let resource = try FHIRJSON.object(Array(#"{"resourceType":"Observation","id":"o\#(index)","status":"final","code":{"text":"x"},\#(element)}"#.utf8))
            let rows = FHIRIndexer.extract(resource).values
            let starts = rows.filter { $0.param == "date" }.map(\.value), ends = rows.filter { $0.param == "date>" }.map(\.value)
            #expect(starts.count == 1, "\(element)")
            if ends.isEmpty { shortWithoutEndRow += 1 }
            for value in Self.searched {
                let query = try SearchQuery(type: "Observation", pairs: [("date", prefix + value)], strict: true)
                guard case .rows(let match)? = query.criteria.first?.values.first else { Issue.record("date=\(prefix)\(value) is not a row match"); continue }
                let matches = starts.contains { match.test.matches(Substring($0)) }
                func inScan(_ row: String, _ scan: RowMatch.Scan) -> Bool { row >= scan.from && scan.to.map { row < $0 } ?? true }
                let found = match.scans.contains { scan in
                    (scan.reversed ? ends : starts).contains { row in
                        scan.param == (scan.reversed ? "date>" : "date") && inScan(row, scan) && match.test.matches(Substring(row), reversed: scan.reversed)
                    }
                }
                #expect(found == matches, "date=\(prefix)\(value) against \(element): the test says \(matches), the scans found \(found)")
            }
        }
        // A period ends where its end's own interval does: 06-14T12:00 to 06-15T12:00 is a day and a second.
        #expect(shortWithoutEndRow == 9, "instants, seconds, days and a period of an hour have no end row")
    }
}
