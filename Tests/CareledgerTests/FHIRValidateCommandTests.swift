import Foundation
import Testing

/// `careledger fhir validate`: offline R4 checks of files, no node or data directory.
@Suite("careledger fhir validate")
struct FHIRValidateCommandTests {
    static let valid = #"{"resourceType":"Patient","id":"p1","gender":"female","birthDate":"1970-01-02"}"#
    static let invalid = #"{"resourceType":"Observation","status":"bogus","code":{"text":"x"},"effectiveDateTime":"2020-13-01"}"#

    /// A folder with the two files; removed by the caller.
    static func files() throws -> (folder: URL, valid: String, invalid: String) {
        let folder = URL(fileURLWithPath: temporaryDataPath())
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let valid = folder.appendingPathComponent("patient.json"), invalid = folder.appendingPathComponent("observation.json")
        try Data(Self.valid.utf8).write(to: valid)
        try Data(Self.invalid.utf8).write(to: invalid)
        return (folder, valid.path, invalid.path)
    }

    @Test func validFileExitsZero() async throws {
        let (folder, valid, _) = try Self.files()
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try await CareledgerBinary.run(["fhir", "validate", valid])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "\(valid): valid\n")
    }

    @Test func invalidFileExitsOneWithEachIssue() async throws {
        let (folder, valid, invalid) = try Self.files()
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try await CareledgerBinary.run(["fhir", "validate", valid, invalid])
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 3, "\(lines)")
        #expect(lines.first == "\(valid): valid")
        #expect(lines.contains { $0.hasPrefix("\(invalid): error code-invalid at Observation.status: ") }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("\(invalid): error value at Observation.effective.ofType(dateTime): ") }, "\(lines)")
    }

    @Test func jsonPrintsTheOperationOutcome() async throws {
        let (folder, _, invalid) = try Self.files()
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try await CareledgerBinary.run(["fhir", "validate", "--json", invalid])
        #expect(result.status == 1, "\(result.stderr)")
        let outcome = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(outcome["resourceType"] as? String == "OperationOutcome")
        let issues = try #require(outcome["issue"] as? [[String: Any]])
        #expect(issues.compactMap { ($0["expression"] as? [String])?.first } == ["Observation.effective.ofType(dateTime)", "Observation.status"])
        #expect(issues.allSatisfy { $0["severity"] as? String == "error" })
    }

    @Test func unparseableFileIsInvalid() async throws {
        let (folder, _, _) = try Self.files()
        defer { try? FileManager.default.removeItem(at: folder) }
        let broken = folder.appendingPathComponent("broken.json")
        try Data("{not json".utf8).write(to: broken)
        let result = try await CareledgerBinary.run(["fhir", "validate", broken.path, folder.appendingPathComponent("missing.json").path])
        #expect(result.status == 1)
        #expect(result.stdout.contains("\(broken.path): error invalid: body is not valid JSON"), "\(result.stdout)")
        #expect(result.stdout.contains("missing.json: fatal exception: cannot read the file"), "\(result.stdout)")
    }
}
