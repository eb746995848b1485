import Foundation

/// A FHIR failure: the HTTP status, the OperationOutcome issue code and a diagnostic sentence
/// (ids and codes only, never PHI). Rendered as an OperationOutcome.
public struct FHIRError: Error, Sendable, Equatable, CustomStringConvertible {
    public let status: Int
    /// An IssueType code (http://hl7.org/fhir/valueset-issue-type.html): invalid, structure,
    /// required, value, not-found, deleted, conflict, security, forbidden, processing, not-supported, too-costly, exception.
    public let code: String
    public let diagnostics: String
    /// Where in the request or resource the problem is (FHIRPath), when known.
    public let expression: String?
    /// Every problem a validation found (`FHIRValidator`), each its own issue in the outcome.
    public let issues: [FHIRValidationIssue]

    public init(_ status: Int, _ code: String, _ diagnostics: String, expression: String? = nil, issues: [FHIRValidationIssue] = []) {
        (self.status, self.code, self.diagnostics, self.expression, self.issues) = (status, code, diagnostics, expression, issues)
    }

    public var description: String { "\(status) \(code): \(diagnostics)" }

    /// The OperationOutcome resource for this error.
    public var outcome: [String: Any] {
        guard issues.isEmpty else { return FHIRValidator.outcome(issues) }
        return OperationOutcome.make(severity: status >= 500 ? "fatal" : "error", code: code, diagnostics: diagnostics, expression: expression)
    }

    public static func invalid(_ text: String, at expression: String? = nil) -> FHIRError { FHIRError(400, "invalid", text, expression: expression) }
    public static func notFound(_ text: String) -> FHIRError { FHIRError(404, "not-found", text) }
    public static func gone(_ text: String) -> FHIRError { FHIRError(410, "deleted", text) }
    public static func forbidden(_ text: String) -> FHIRError { FHIRError(403, "forbidden", text) }
    public static func conflict(_ text: String) -> FHIRError { FHIRError(409, "conflict", text) }
    public static func preconditionFailed(_ text: String) -> FHIRError { FHIRError(412, "conflict", text) }
    public static func unprocessable(_ text: String, at expression: String? = nil) -> FHIRError {
        FHIRError(422, "processing", text, expression: expression)
    }
    public static func notSupported(_ text: String) -> FHIRError { FHIRError(400, "not-supported", text) }
}

/// OperationOutcome builders.
public enum OperationOutcome {
    /// One-issue OperationOutcome.
    public static func make(severity: String, code: String, diagnostics: String, expression: String? = nil) -> [String: Any] {
        var issue: [String: Any] = ["severity": severity, "code": code, "diagnostics": diagnostics]
        if let expression { issue["expression"] = [expression] }
        return ["resourceType": "OperationOutcome", "issue": [issue]]
    }

    /// An informational outcome (e.g. the body of a successful DELETE).
    public static func information(_ text: String) -> [String: Any] {
        make(severity: "information", code: "informational", diagnostics: text)
    }
}
