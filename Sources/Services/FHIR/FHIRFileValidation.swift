import FHIR
public import Foundation

/// `careledger fhir validate`: FHIR JSON files (a resource or a Bundle each) checked offline against
/// the R4 definitions by the same `FHIRValidator` every FHIR write and `$validate` runs.
public enum FHIRFileValidation {
    /// What one file holds: the validator's issues, or why it could not be read or parsed.
    public struct Report: @unchecked Sendable {   // `outcome` is immutable JSON
        /// The path as given (`-` for stdin).
        public let path: String
        /// Whether the file holds a resource with no error or fatal issue.
        public let isValid: Bool
        /// The OperationOutcome: every issue, or one informational issue when there is none.
        public let outcome: [String: Any]

        /// `PATH: valid` (and any warnings), or one line per issue: `PATH: severity code at expression: message`.
        public var lines: [String] {
            let issues = (outcome["issue"] as? [[String: Any]] ?? []).filter { $0["severity"] as? String != "information" }
            let rendered = issues.map { issue in
                let at = (issue["expression"] as? [String])?.first.map { " at \($0)" } ?? ""
                return "\(path): \(issue["severity"] as? String ?? "error") \(issue["code"] as? String ?? "invalid")\(at): \(issue["diagnostics"] as? String ?? "")"
            }
            return isValid ? ["\(path): valid"] + rendered : rendered
        }
    }

    /// Checks the file at `path` (`-`: standard input).
    public static func validate(path: String) -> Report {
        let data: Data
        do {
            data = path == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            return Report(path: path, isValid: false, outcome: OperationOutcome.make(severity: "fatal", code: "exception", diagnostics: "cannot read the file"))
        }
        return validate(data, path: path)
    }

    /// Checks the JSON `data` (named `path` in the report).
    public static func validate(_ data: Data, path: String) -> Report {
        let resource: [String: Any]
        do {
            resource = try FHIRJSON.object([UInt8](data), limit: FHIRJSON.bundleBytesMax)
        } catch {
            return Report(path: path, isValid: false, outcome: error.outcome)
        }
        let issues = FHIRValidator.validate(resource)
        return Report(path: path, isValid: !issues.contains { $0.severity == .error || $0.severity == .fatal }, outcome: FHIRValidator.outcome(issues))
    }
}
