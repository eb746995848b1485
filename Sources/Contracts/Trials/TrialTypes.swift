public import LedgerCore

/// Endpoint codes that changed between two protocol versions, recorded with the amendment that
/// declared them (so they are pre-registered from that version on).
public struct TrialEndpointChange: Sendable, Equatable {
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

    var canonical: CanonicalValue {
        .map([
            "primaryAdded": TrialCodec.strings(primaryAdded), "primaryDropped": TrialCodec.strings(primaryDropped),
            "secondaryAdded": TrialCodec.strings(secondaryAdded), "secondaryDropped": TrialCodec.strings(secondaryDropped),
        ])
    }

    init(primaryAdded: [String], primaryDropped: [String], secondaryAdded: [String], secondaryDropped: [String]) {
        self.primaryAdded = primaryAdded
        self.primaryDropped = primaryDropped
        self.secondaryAdded = secondaryAdded
        self.secondaryDropped = secondaryDropped
    }

    init?(canonical value: CanonicalValue) {
        guard let pa = TrialCodec.strings(value["primaryAdded"]), let pd = TrialCodec.strings(value["primaryDropped"]),
              let sa = TrialCodec.strings(value["secondaryAdded"]), let sd = TrialCodec.strings(value["secondaryDropped"])
        else { return nil }
        self.init(primaryAdded: pa, primaryDropped: pd, secondaryAdded: sa, secondaryDropped: sd)
    }
}

/// One protocol version of a trial. Version 1 is the registration; each amendment appends the
/// next version under its own key, and no version is ever overwritten.
public struct TrialVersion: Sendable, Equatable {
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

    var canonical: CanonicalValue {
        var map: [String: CanonicalValue] = [
            "version": .int(Int64(version)), "protocolHash": .bytes(protocolHash.bytes),
            "consentFormVersion": .int(Int64(consentFormVersion)), "primary": TrialCodec.strings(primaryEndpoints),
            "secondary": TrialCodec.strings(secondaryEndpoints), "sites": TrialCodec.hashes(sites),
            "dataBatchesBefore": .int(Int64(dataBatchesBefore)), "author": .bytes(author.bytes),
            "height": .int(Int64(height)), "timeMs": .int(timeMs),
        ]
        if let reason { map["reason"] = .string(reason) }
        if let endpointChange { map["endpointChange"] = endpointChange.canonical }
        return .map(map)
    }

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

    init?(canonical value: CanonicalValue) {
        guard let version = value["version"]?.intValue, let hash = TrialCodec.hash(value["protocolHash"]),
              let form = value["consentFormVersion"]?.intValue, let primary = TrialCodec.strings(value["primary"]),
              let secondary = TrialCodec.strings(value["secondary"]), let sites = TrialCodec.hashes(value["sites"]),
              let before = value["dataBatchesBefore"]?.intValue, let author = TrialCodec.hash(value["author"]),
              let height = value["height"]?.intValue, let timeMs = value["timeMs"]?.intValue
        else { return nil }
        self.init(version: UInt64(version), protocolHash: hash, consentFormVersion: UInt64(form), primaryEndpoints: primary,
                  secondaryEndpoints: secondary, sites: sites, reason: value["reason"]?.stringValue,
                  endpointChange: value["endpointChange"].flatMap(TrialEndpointChange.init(canonical:)),
                  dataBatchesBefore: UInt64(before), author: author, height: UInt64(height), timeMs: timeMs)
    }
}

/// A trial's head record: sponsor and the counts of its bounded histories.
struct TrialHead: Sendable, Equatable {
    var sponsor: IdentityID
    var registeredBy: IdentityID
    var versionCount: UInt64
    var participantCount: UInt64
    var dataBatchCount: UInt64
    var resultCount: UInt64
    var criteriaCount: UInt64
    var height: UInt64
    var timeMs: Int64

    var canonical: CanonicalValue {
        .map([
            "sponsor": .bytes(sponsor.bytes), "registeredBy": .bytes(registeredBy.bytes), "versions": .int(Int64(versionCount)),
            "participants": .int(Int64(participantCount)), "batches": .int(Int64(dataBatchCount)),
            "results": .int(Int64(resultCount)), "criteria": .int(Int64(criteriaCount)),
            "height": .int(Int64(height)), "timeMs": .int(timeMs),
        ])
    }

    init(sponsor: IdentityID, registeredBy: IdentityID, height: UInt64, timeMs: Int64) {
        self.sponsor = sponsor
        self.registeredBy = registeredBy
        self.versionCount = 1
        self.participantCount = 0
        self.dataBatchCount = 0
        self.resultCount = 0
        self.criteriaCount = 0
        self.height = height
        self.timeMs = timeMs
    }

    init?(canonical value: CanonicalValue) {
        guard let sponsor = TrialCodec.hash(value["sponsor"]), let by = TrialCodec.hash(value["registeredBy"]),
              let versions = value["versions"]?.intValue, let participants = value["participants"]?.intValue,
              let batches = value["batches"]?.intValue, let results = value["results"]?.intValue,
              let criteria = value["criteria"]?.intValue, let height = value["height"]?.intValue, let timeMs = value["timeMs"]?.intValue
        else { return nil }
        self.sponsor = sponsor
        self.registeredBy = by
        self.versionCount = UInt64(versions)
        self.participantCount = UInt64(participants)
        self.dataBatchCount = UInt64(batches)
        self.resultCount = UInt64(results)
        self.criteriaCount = UInt64(criteria)
        self.height = UInt64(height)
        self.timeMs = timeMs
    }
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
public struct TrialParticipant: Sendable, Equatable {
    /// Where the patient stands.
    public enum Status: String, Sendable, CaseIterable {
        case consented, enrolled, withdrawn
    }

    public var trial: String
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

    /// True while the research consent stands (not withdrawn).
    public var isActive: Bool { status != .withdrawn }

    var canonical: CanonicalValue {
        var map: [String: CanonicalValue] = [
            "patient": .bytes(patient.bytes), "status": .string(status.rawValue), "purpose": .string(Self.purpose.rawValue),
            "consentFormVersion": .int(Int64(consentFormVersion)), "recruitmentContact": .bool(recruitmentContact),
            "consentedBy": .bytes(consentedBy.bytes), "consentedHeight": .int(Int64(consentedHeight)),
        ]
        if let enrolledBy { map["enrolledBy"] = .bytes(enrolledBy.bytes) }
        if let enrolledSite { map["enrolledSite"] = .bytes(enrolledSite.bytes) }
        if let enrolledHeight { map["enrolledHeight"] = .int(Int64(enrolledHeight)) }
        if let withdrawnBy { map["withdrawnBy"] = .bytes(withdrawnBy.bytes) }
        if let withdrawnHeight { map["withdrawnHeight"] = .int(Int64(withdrawnHeight)) }
        return .map(map)
    }

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

    init?(trial: String, canonical value: CanonicalValue) {
        guard let patient = TrialCodec.hash(value["patient"]),
              let status = value["status"]?.stringValue.flatMap(Status.init(rawValue:)),
              let form = value["consentFormVersion"]?.intValue, let contact = value["recruitmentContact"]?.boolValue,
              let by = TrialCodec.hash(value["consentedBy"]), let height = value["consentedHeight"]?.intValue
        else { return nil }
        self.init(trial: trial, patient: patient, consentFormVersion: UInt64(form), recruitmentContact: contact, consentedBy: by,
                  consentedHeight: UInt64(height))
        self.status = status
        enrolledBy = TrialCodec.hash(value["enrolledBy"])
        enrolledSite = TrialCodec.hash(value["enrolledSite"])
        enrolledHeight = value["enrolledHeight"]?.intValue.map { UInt64($0) }
        withdrawnBy = TrialCodec.hash(value["withdrawnBy"])
        withdrawnHeight = value["withdrawnHeight"]?.intValue.map { UInt64($0) }
    }
}

/// One anchored batch of case-report-form hashes.
public struct TrialDataBatch: Sendable, Equatable {
    /// 1-based position in the trial's batches.
    public var index: UInt64
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

    var canonical: CanonicalValue {
        .map([
            "participant": .bytes(participant.bytes), "endpoint": .string(endpoint), "crfHashes": TrialCodec.hashes(crfHashes),
            "site": .bytes(site.bytes), "submitter": .bytes(submitter.bytes), "protocolVersion": .int(Int64(protocolVersion)),
            "height": .int(Int64(height)), "timeMs": .int(timeMs),
        ])
    }

    init(index: UInt64, participant: IdentityID, endpoint: String, crfHashes: [Hash256], site: IdentityID, submitter: IdentityID,
         protocolVersion: UInt64, height: UInt64, timeMs: Int64) {
        self.index = index
        self.participant = participant
        self.endpoint = endpoint
        self.crfHashes = crfHashes
        self.site = site
        self.submitter = submitter
        self.protocolVersion = protocolVersion
        self.height = height
        self.timeMs = timeMs
    }

    init?(index: UInt64, canonical value: CanonicalValue) {
        guard let participant = TrialCodec.hash(value["participant"]), let endpoint = value["endpoint"]?.stringValue,
              let hashes = TrialCodec.hashes(value["crfHashes"]), let site = TrialCodec.hash(value["site"]),
              let submitter = TrialCodec.hash(value["submitter"]), let version = value["protocolVersion"]?.intValue,
              let height = value["height"]?.intValue, let timeMs = value["timeMs"]?.intValue
        else { return nil }
        self.init(index: index, participant: participant, endpoint: endpoint, crfHashes: hashes, site: site, submitter: submitter,
                  protocolVersion: UInt64(version), height: UInt64(height), timeMs: timeMs)
    }
}

/// The evidence of outcome switching in one results report: how its primary endpoints differ
/// from those pre-registered by the protocol version in force.
public struct OutcomeSwitchFlag: Sendable, Equatable {
    /// The results report (1-based) this flag belongs to.
    public var resultIndex: UInt64
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

    var canonical: CanonicalValue {
        .map([
            "protocolVersion": .int(Int64(protocolVersion)), "added": TrialCodec.strings(added), "dropped": TrialCodec.strings(dropped),
            "neverRegistered": TrialCodec.strings(neverRegistered), "version1Primary": TrialCodec.strings(version1Primary),
            "inForcePrimary": TrialCodec.strings(inForcePrimary),
        ])
    }

    init(resultIndex: UInt64, protocolVersion: UInt64, added: [String], dropped: [String], neverRegistered: [String],
         version1Primary: [String], inForcePrimary: [String]) {
        self.resultIndex = resultIndex
        self.protocolVersion = protocolVersion
        self.added = added
        self.dropped = dropped
        self.neverRegistered = neverRegistered
        self.version1Primary = version1Primary
        self.inForcePrimary = inForcePrimary
    }

    init?(resultIndex: UInt64, canonical value: CanonicalValue) {
        guard let version = value["protocolVersion"]?.intValue, let added = TrialCodec.strings(value["added"]),
              let dropped = TrialCodec.strings(value["dropped"]), let never = TrialCodec.strings(value["neverRegistered"]),
              let v1 = TrialCodec.strings(value["version1Primary"]), let inForce = TrialCodec.strings(value["inForcePrimary"])
        else { return nil }
        self.init(resultIndex: resultIndex, protocolVersion: UInt64(version), added: added, dropped: dropped, neverRegistered: never,
                  version1Primary: v1, inForcePrimary: inForce)
    }
}

/// A results report: what the sponsor reported as primary, and whether it was flagged.
public struct TrialResult: Sendable, Equatable {
    /// 1-based position in the trial's reports.
    public var index: UInt64
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
    /// Set when the report switched outcomes (accepted, but flagged).
    public var flag: OutcomeSwitchFlag?

    /// True when the report was flagged as outcome switching.
    public var isFlagged: Bool { flag != nil }

    var canonical: CanonicalValue {
        .map([
            "primary": TrialCodec.strings(primaryEndpoints), "resultsHash": .bytes(resultsHash.bytes),
            "protocolVersion": .int(Int64(protocolVersion)), "primaryChangedByAmendment": .bool(primaryChangedByAmendment),
            "flagged": .bool(flag != nil), "reporter": .bytes(reporter.bytes), "height": .int(Int64(height)), "timeMs": .int(timeMs),
        ])
    }

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
    }

    /// Decodes the stored report; `flag` is read from its own key by the caller.
    init?(index: UInt64, canonical value: CanonicalValue) {
        guard let primary = TrialCodec.strings(value["primary"]), let hash = TrialCodec.hash(value["resultsHash"]),
              let version = value["protocolVersion"]?.intValue, let changed = value["primaryChangedByAmendment"]?.boolValue,
              let reporter = TrialCodec.hash(value["reporter"]), let height = value["height"]?.intValue,
              let timeMs = value["timeMs"]?.intValue
        else { return nil }
        self.init(index: index, primaryEndpoints: primary, resultsHash: hash, protocolVersion: UInt64(version),
                  primaryChangedByAmendment: changed, reporter: reporter, height: UInt64(height), timeMs: timeMs, flag: nil)
    }
}

/// One published version of a trial's recruitment eligibility criteria.
public struct TrialCriteria: Sendable, Equatable {
    /// 1-based; the highest is in force.
    public var version: UInt64
    /// SHA-256 of the full criteria document.
    public var criteriaHash: Hash256
    /// Coded criteria (e.g. "age>=18", "ICD10:C34"), as published.
    public var criteria: [String]
    public var publisher: IdentityID
    public var height: UInt64

    var canonical: CanonicalValue {
        .map([
            "criteriaHash": .bytes(criteriaHash.bytes), "criteria": TrialCodec.strings(criteria),
            "publisher": .bytes(publisher.bytes), "height": .int(Int64(height)),
        ])
    }

    init(version: UInt64, criteriaHash: Hash256, criteria: [String], publisher: IdentityID, height: UInt64) {
        self.version = version
        self.criteriaHash = criteriaHash
        self.criteria = criteria
        self.publisher = publisher
        self.height = height
    }

    init?(version: UInt64, canonical value: CanonicalValue) {
        guard let hash = TrialCodec.hash(value["criteriaHash"]), let criteria = TrialCodec.strings(value["criteria"]),
              let publisher = TrialCodec.hash(value["publisher"]), let height = value["height"]?.intValue
        else { return nil }
        self.init(version: version, criteriaHash: hash, criteria: criteria, publisher: publisher, height: UInt64(height))
    }
}

/// Canonical-value helpers shared by the trial types.
enum TrialCodec {
    static func strings(_ list: [String]) -> CanonicalValue { .list(list.map { .string($0) }) }
    static func hashes(_ list: [Hash256]) -> CanonicalValue { .list(list.map { .bytes($0.bytes) }) }

    static func strings(_ value: CanonicalValue?) -> [String]? {
        guard let list = value?.listValue else { return nil }
        let out = list.compactMap(\.stringValue)
        return out.count == list.count ? out : nil
    }

    static func hashes(_ value: CanonicalValue?) -> [Hash256]? {
        guard let list = value?.listValue else { return nil }
        let out = list.compactMap { $0.bytesValue.flatMap { Hash256(bytes: $0) } }
        return out.count == list.count ? out : nil
    }

    static func hash(_ value: CanonicalValue?) -> Hash256? { value?.bytesValue.flatMap { Hash256(bytes: $0) } }

    /// Elements of `a` not in `b`, sorted.
    static func minus(_ a: [String], _ b: [String]) -> [String] { Set(a).subtracting(b).sorted() }
}
