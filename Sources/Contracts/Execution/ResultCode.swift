import LedgerCore

/// Stable, numbered outcomes of executing a transaction (TigerBeetle-style). Never renumber;
/// append new codes. 1–99 envelope, 100–199 membership, 200–299 anchor, 300–399 records,
/// 400–499 consent, 500–599 audit, 600–699 claims, 700–799 supply chain and prescriptions,
/// 800–899 clinical trials, 900–949 telehealth.
public enum ResultCode: UInt16, Sendable, CaseIterable {
    case accepted = 0
    case wrongChain = 1
    case sequenceReplayed = 2
    case sequenceGap = 3
    case expired = 4
    case unknownSender = 5
    case keyMismatch = 6
    case senderRevoked = 7
    case unknownContract = 8
    case unknownMethod = 9
    case badArguments = 10
    case unauthorized = 11
    case genesisOnly = 12
    case notAfterGenesis = 13

    case alreadyRegistered = 100
    case unknownIdentity = 101
    case unknownRole = 102
    case notOrganizationMember = 103
    case alreadyRevoked = 104
    case keyInUse = 105
    case unknownOrganizationType = 106

    case alreadyAnchored = 200

    case unknownRecord = 300
    case versionConflict = 301
    case recordErased = 302
    case unknownPatient = 303
    case unknownResourceType = 304
    case unknownCategory = 305
    /// Only the custodian's staff may move a record to another sensitivity category.
    case categoryChangeNotAllowed = 306

    case unknownConsent = 400
    case notPatientOrDelegate = 401
    case unknownGrantee = 402
    case consentAlreadyRevoked = 403
    case tooManyConsents = 404
    case badPeriod = 405
    case granteeRevoked = 406
    case unknownPurpose = 407
    case unknownDelegate = 408
    case tooManyDelegates = 409

    case auditNotGrowing = 500

    /// No plan with that id.
    case unknownPlan = 600
    /// A plan with that id exists; plans are immutable, register a new id.
    case planExists = 601
    /// The sender is not the payer of the plan (or not a payer at all).
    case notPlanPayer = 602
    /// The sender is not a provider organization (hospital, clinic, laboratory, pharmacy) or its billing staff.
    case notProvider = 603
    /// The patient already has coverage under this plan for part of the period.
    case coverageOverlap = 604
    /// No coverage with that id.
    case unknownCoverage = 605
    /// No prior authorization with that id.
    case unknownAuthorization = 606
    /// The prior authorization was already decided.
    case authorizationDecided = 607
    /// A claim with that id was already submitted.
    case claimExists = 608
    /// No claim with that id.
    case unknownClaim = 609
    /// The payment is more than the payer still owes on the claim.
    case overpayment = 610
    /// A claim line's date of service is after the block time.
    case serviceInFuture = 611
    /// A billing or diagnosis code is malformed.
    case badCode = 612
    /// The patient holds the most coverages or pending authorizations this contract keeps.
    case tooManyEntries = 613
    /// The coverage has already ended.
    case coverageEnded = 614

    /// A short, stable name for logs and JSON.
    public var name: String { String(describing: self) }
}

/// A contract's refusal: a stable code and a human message (ids and codes only, never PHI).
public struct Rejection: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: ResultCode
    public let message: String

    public init(_ code: ResultCode, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The on-chain result form.
    public var result: TransactionResult { TransactionResult(code: code.rawValue, message: message) }
    public var description: String { "\(code.name) (\(code.rawValue)): \(message)" }
}
