public import Contracts

/// An operating error of a service: what went wrong, in words a user can act on, and a kind that
/// adapters map to their own vocabulary (an HTTP status, an exit code, an OperationOutcome).
public struct ServiceError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The input is malformed or incomplete.
        case invalid
        /// The thing asked about does not exist.
        case notFound
        /// The requester may not do or see this.
        case forbidden
        /// The request conflicts with current state (an existing name, a held lock).
        case conflict
        /// The node could not do it now (stopped, timed out); retrying may help.
        case unavailable
    }

    public let kind: Kind
    public let message: String
    public var description: String { message }

    public init(_ kind: Kind, _ message: String) { (self.kind, self.message) = (kind, message) }

    /// An invalid-input error; the commonest kind.
    public init(_ message: String) { self.init(.invalid, message) }

    public static func notFound(_ message: String) -> ServiceError { ServiceError(.notFound, message) }
    public static func forbidden(_ message: String) -> ServiceError { ServiceError(.forbidden, message) }
}

/// A transaction the ledger refused, at admission or in its block (the CLI's exit code 3).
public struct Refused: Error, Sendable, Equatable, CustomStringConvertible {
    /// The result code's name (`versionConflict`) or the admission error's (`badSequence`).
    public let code: String
    public let message: String
    public var description: String { "refused (\(code)): \(message)" }

    public init(code: String, message: String) { (self.code, self.message) = (code, message) }

    /// A refusal by a contract rule.
    public init(_ code: ResultCode, _ message: String) { self.init(code: code.name, message: message) }
}
