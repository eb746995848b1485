public import LedgerCore

/// Endpoint codes that changed between two protocol versions, recorded with the amendment that
/// declared them (so they are pre-registered from that version on).
public struct TrialEndpointChange: StoredValue, Equatable {
    public var primaryAdded: [String]
    public var primaryDropped: [String]
    public var secondaryAdded: [String]
    public var secondaryDropped: [String]

    /// The change from `old` to `new` lists, or nil when both lists are unchanged as sets.
    static func between(oldPrimary: [String], oldSecondary: [String], newPrimary: [String],
                        newSecondary: [String]) -> TrialEndpointChange? {
        let change = TrialEndpointChange(
            primaryAdded: TrialCodec.minus(newPrimary, oldPrimary), primaryDropped: TrialCodec.minus(oldPrimary, newPrimary),
            secondaryAdded: TrialCodec.minus(newSecondary, oldSecondary), secondaryDropped: TrialCodec.minus(oldSecondary, newSecondary))
        let empty = change.primaryAdded.isEmpty && change.primaryDropped.isEmpty && change.secondaryAdded.isEmpty && change.secondaryDropped.isEmpty
        return empty ? nil : change
    }
}

/// One protocol version of a trial. Version 1 is the registration; each amendment appends the
/// next version under its own key, and no version is ever overwritten.
public struct TrialVersion: StoredValue, Equatable {
    public var version: UInt64
    /// SHA-256 of the protocol document of this version.
    public var protocolHash: Hash256
    public var consentFormVersion: UInt64
    /// Pre-registered primary endpoint codes in force from this version on, in registration order.
    public var primaryEndpoints: [String]
    /// Pre-registered secondary endpoint codes in force from this version on.
    public var secondaryEndpoints: [String]
    /// Site organizations, sorted.
    public var sites: [IdentityID]
    /// The amendment's reason (nil for version 1).
    public var reason: String?
    /// Endpoint changes the amendment declared (nil for version 1 or when endpoints are unchanged).
    public var endpointChange: TrialEndpointChange?
    /// Data batches already anchored when this version took effect (shows amendments made after data arrived).
    public var dataBatchesBefore: UInt64
    /// The sponsor organization or researcher who signed this version.
    public var author: IdentityID
    public var height: UInt64
    public var timeMs: Int64

    /// Every endpoint (primary or secondary) pre-registered by this version.
    public var endpoints: Set<String> { Set(primaryEndpoints).union(secondaryEndpoints) }

    init(version: UInt64, protocolHash: Hash256, consentFormVersion: UInt64, primaryEndpoints: [String], secondaryEndpoints: [String],
         sites: [IdentityID], reason: String?, endpointChange: TrialEndpointChange?, dataBatchesBefore: UInt64, author: IdentityID,
         height: UInt64, timeMs: Int64) {
        self.version = version
        self.protocolHash = protocolHash
        self.consentFormVersion = consentFormVersion
        self.primaryEndpoints = primaryEndpoints
        self.secondaryEndpoints = secondaryEndpoints
        self.sites = sites.sorted()
        self.reason = reason
        self.endpointChange = endpointChange
        self.dataBatchesBefore = dataBatchesBefore
        self.author = author
        self.height = height
        self.timeMs = timeMs
    }
}

/// A trial's head record: sponsor and the counts of its bounded histories.
struct TrialHead: StoredValue, Equatable {
    var sponsor: IdentityID
    var registeredBy: IdentityID
    var versionCount: UInt64 = 1
    var participantCount: UInt64 = 0
    var dataBatchCount: UInt64 = 0
    var resultCount: UInt64 = 0
    var criteriaCount: UInt64 = 0
    var height: UInt64
    var timeMs: Int64
}

/// A registered trial as the read helper returns it: the head and every protocol version.
public struct Trial: Sendable, Equatable {
    public var id: String
    /// The sponsor organization.
    public var sponsor: IdentityID
    /// Who signed the registration (the sponsor organization or its researcher).
    public var registeredBy: IdentityID
    /// Every protocol version, oldest first; the last one is in force.
    public var versions: [TrialVersion]
    /// Patients enrolled so far (withdrawals included).
    public var participantCount: UInt64
    public var dataBatchCount: UInt64
    public var resultCount: UInt64
    /// Published recruitment-criteria versions.
    public var criteriaCount: UInt64
    public var height: UInt64

    /// The protocol version in force.
    public var current: TrialVersion { versions[versions.count - 1] }
}

/// A patient's standing in one trial: research consent, enrollment, withdrawal.
public struct TrialParticipant: StoredValue, Equatable {
    /// Where the patient stands.
    public enum Status: String, Sendable, CaseIterable, Codable {
        case consented, enrolled, withdrawn
    }

    /// From the state key.
    public var trial: String = ""
    public var patient: IdentityID
    public var status: Status
    /// The consent-form version the patient's research consent (purpose HRESCH) is for.
    public var consentFormVersion: UInt64
    /// Whether the patient agreed to be contacted for recruitment.
    public var recruitmentContact: Bool
    /// The patient or the delegate who signed the latest consent.
    public var consentedBy: IdentityID
    public var consentedHeight: UInt64
    public var enrolledBy: IdentityID?
    /// The site organization that enrolled the patient.
    public var enrolledSite: IdentityID?
    public var enrolledHeight: UInt64?
    public var withdrawnBy: IdentityID?
    public var withdrawnHeight: UInt64?

    /// The purpose of use of every trial consent.
    public static let purpose = Purpose.research
    /// `purpose`, stored with each participant.
    private var consentPurpose = Self.purpose

    /// True while the research consent stands (not withdrawn).
    public var isActive: Bool { status != .withdrawn }

    init(trial: String, patient: IdentityID, consentFormVersion: UInt64, recruitmentContact: Bool, consentedBy: IdentityID,
         consentedHeight: UInt64) {
        self.trial = trial
        self.patient = patient
        self.status = .consented
        self.consentFormVersion = consentFormVersion
        self.recruitmentContact = recruitmentContact
        self.consentedBy = consentedBy
        self.consentedHeight = consentedHeight
    }
}

/// One anchored batch of case-report-form hashes.
public struct TrialDataBatch: StoredValue, Equatable {
    /// 1-based position in the trial's batches (from the state key).
    public var index: UInt64 = 0
    public var participant: IdentityID
    public var endpoint: String
    public var crfHashes: [Hash256]
    /// The site organization that submitted it, and the member who signed.
    public var site: IdentityID
    public var submitter: IdentityID
    /// The protocol version in force when it was anchored.
    public var protocolVersion: UInt64
    public var height: UInt64
    public var timeMs: Int64
}

/// The evidence of outcome switching in one results report: how its primary endpoints differ
/// from those pre-registered by the protocol version in force.
public struct OutcomeSwitchFlag: StoredValue, Equatable {
    /// The results report (1-based) this flag belongs to (from the state key).
    public var resultIndex: UInt64 = 0
    /// The protocol version in force at the report.
    public var protocolVersion: UInt64
    /// Reported as primary but not a primary endpoint of the version in force, sorted.
    public var added: [String]
    /// Primary endpoints of the version in force that the report left out, sorted.
    public var dropped: [String]
    /// The subset of `added` that no protocol version ever pre-registered (primary or secondary).
    public var neverRegistered: [String]
    /// The primary endpoints of version 1 and of the version in force, for the reader's comparison.
    public var version1Primary: [String]
    public var inForcePrimary: [String]
}

/// A results report: what the sponsor reported as primary, and whether it was flagged.
public struct TrialResult: StoredValue, Equatable {
    /// 1-based position in the trial's reports (from the state key).
    public var index: UInt64 = 0
    public var primaryEndpoints: [String]
    /// SHA-256 of the results document.
    public var resultsHash: Hash256
    /// The protocol version in force at the report.
    public var protocolVersion: UInt64
    /// True when the primary endpoints in force differ from version 1's through declared amendments.
    public var primaryChangedByAmendment: Bool
    public var reporter: IdentityID
    public var height: UInt64
    public var timeMs: Int64
    /// Set when the report switched outcomes (accepted, but flagged); stored under its own key.
    public var flag: OutcomeSwitchFlag?
    /// Whether the report was flagged when stored (the flag itself has its own key).
    private var flagged: Bool

    /// True when the report was flagged as outcome switching.
    public var isFlagged: Bool { flag != nil }

    init(index: UInt64, primaryEndpoints: [String], resultsHash: Hash256, protocolVersion: UInt64, primaryChangedByAmendment: Bool,
         reporter: IdentityID, height: UInt64, timeMs: Int64, flag: OutcomeSwitchFlag?) {
        self.index = index
        self.primaryEndpoints = primaryEndpoints
        self.resultsHash = resultsHash
        self.protocolVersion = protocolVersion
        self.primaryChangedByAmendment = primaryChangedByAmendment
        self.reporter = reporter
        self.height = height
        self.timeMs = timeMs
        self.flag = flag
        self.flagged = flag != nil
    }
}

/// One published version of a trial's recruitment eligibility criteria.
public struct TrialCriteria: StoredValue, Equatable {
    /// 1-based; the highest is in force (from the state key).
    public var version: UInt64 = 0
    /// SHA-256 of the full criteria document.
    public var criteriaHash: Hash256
    /// Coded criteria (e.g. "age>=18", "ICD10:C34"), as published.
    public var criteria: [String]
    public var publisher: IdentityID
    public var height: UInt64
}

/// Helpers shared by the trial types.
enum TrialCodec {
    /// Elements of `a` not in `b`, sorted.
    static func minus(_ a: [String], _ b: [String]) -> [String] { Set(a).subtracting(b).sorted() }
}

// MARK: Stored forms (keys as the chain stores them)

extension TrialVersion {
    private enum CodingKeys: String, CodingKey {
        case version, protocolHash, consentFormVersion, primaryEndpoints = "primary", secondaryEndpoints = "secondary", sites
        case reason, endpointChange, dataBatchesBefore, author, height, timeMs
    }
}

extension TrialHead {
    private enum CodingKeys: String, CodingKey {
        case sponsor, registeredBy, versionCount = "versions", participantCount = "participants", dataBatchCount = "batches"
        case resultCount = "results", criteriaCount = "criteria", height, timeMs
    }
}

extension TrialParticipant {
    private enum CodingKeys: String, CodingKey {
        case patient, status, consentPurpose = "purpose", consentFormVersion, recruitmentContact, consentedBy, consentedHeight
        case enrolledBy, enrolledSite, enrolledHeight, withdrawnBy, withdrawnHeight
    }
}

extension TrialDataBatch {
    private enum CodingKeys: String, CodingKey {
        case participant, endpoint, crfHashes, site, submitter, protocolVersion, height, timeMs
    }
}

extension OutcomeSwitchFlag {
    private enum CodingKeys: String, CodingKey {
        case protocolVersion, added, dropped, neverRegistered, version1Primary, inForcePrimary
    }
}

extension TrialResult {
    private enum CodingKeys: String, CodingKey {
        case primaryEndpoints = "primary", resultsHash, protocolVersion, primaryChangedByAmendment, flagged, reporter, height, timeMs
    }
}

extension TrialCriteria {
    private enum CodingKeys: String, CodingKey { case criteriaHash, criteria, publisher, height }
}
