public import LedgerCore

/// Clinical-trial integrity: a sponsor registers a trial with pre-registered endpoints and sites
/// and appends protocol amendments (never overwriting); patients (or delegates) give and
/// withdraw research consent per consent-form version; site staff enroll consented patients and
/// anchor case-report-form hashes; the sponsor reports results, and a report whose primary
/// endpoints differ from the pre-registered ones is accepted but flagged as outcome switching;
/// custodians announce blinded recruitment matches without revealing who did not match.
public struct TrialsContract: Contract {
    public var name: String { Method.contract }
    public let methods = Method.names

    /// Longest trial id (an NCT-style id of [A-Za-z0-9-]).
    public static let trialIdBytesMax = 32
    /// Most endpoint codes in the primary list, and in the secondary list.
    public static let endpointsMax = 32
    /// Longest endpoint code, in bytes (printable ASCII).
    public static let endpointBytesMax = 64
    /// Most sites of a trial.
    public static let sitesMax = 64
    /// Longest amendment reason, in bytes.
    public static let reasonBytesMax = 200
    /// Most protocol versions of one trial (registration included).
    public static let versionsMax: UInt64 = 64
    /// Highest consent-form version number.
    public static let consentFormVersionMax: Int64 = 1_000_000
    /// Most participants one trial enrolls.
    public static let participantsMax: UInt64 = 100_000
    /// Most case-report-form hashes in one data batch.
    public static let crfHashesPerBatchMax = 256
    /// Most data batches of one trial.
    public static let dataBatchesMax: UInt64 = 10_000_000
    /// Most results reports of one trial (interim and final).
    public static let resultsMax: UInt64 = 16
    /// Most coded criteria in one publication.
    public static let criteriaMax = 32
    /// Longest coded criterion, in bytes (printable ASCII).
    public static let criterionBytesMax = 64
    /// Most published criteria versions of one trial.
    public static let criteriaVersionsMax: UInt64 = 32
    /// Most match tokens in one announcement.
    public static let matchTokensPerCallMax = 256
    /// Most match tokens one custodian announces for one trial.
    public static let matchTokensPerCustodianMax: UInt64 = 100_000
    /// Organization types that may be trial sites.
    public static let siteTypes: Set<OrganizationType> = [.hospital, .clinic, .laboratory]
    /// Organization types that hold patients' records and announce recruitment matches.
    public static let custodianTypes: Set<OrganizationType> = [.hospital, .clinic]
    /// Roles of site staff who enroll participants and submit data.
    public static let siteRoles: Set<Role> = [.clinician, .researcher]

    public init() {}

    // MARK: private participation (a consortium node sends these privately)

    /// On a consortium a patient's participation goes to the trial's sponsor and sites only: the
    /// consent, the withdrawal, the enrollment and the data batches (the participant, the endpoint,
    /// the CRF hashes) are in their collection. Every node counts the data batches (a protocol
    /// amendment records how many came before it); enrollments are counted in the collection.
    public var endorsedMethods: Set<String> {
        [Method.consent.rawValue, Method.withdraw.rawValue, Method.enroll.rawValue, Method.submitData.rawValue]
    }
    public var privateKeyPrefixes: [String] { ["trials/participant/", "trials/batch/", "trials/crf/", TrialIndex.enrolledPrefix] }

    public func privateOrganizations(_ call: ContractCall, state: StateView) throws(Rejection) -> Set<IdentityID> {
        let trial: String
        switch try Method.of(call) {
        case .consent: trial = try Consent(call).trial
        case .withdraw: trial = try Withdraw(call).trial
        case .enroll: trial = try Enroll(call).trial
        case .submitData: trial = try SubmitData(call).trial
        default: throw Rejection(.unknownMethod, "trials.\(call.method) has no private form")
        }
        let (head, current) = try Self.existingTrial(trial, state)
        return Set(current.sites).union([head.sponsor])
    }

    /// A private data batch's one shared write is its trial's head with one more data batch.
    public func checkSharedWrites(_ call: ContractCall, _ writes: [Proposal.Write], state: StateView) throws(Rejection) {
        guard Method(rawValue: call.method) == .submitData else {
            guard writes.isEmpty else { throw Rejection(.badEndorsement, "trials.\(call.method) makes no shared writes privately") }
            return
        }
        let prefix = TrialIndex.headKey("")
        guard writes.count == 1, let write = writes.first, write.key.hasPrefix(prefix),
              var head = TrialIndex.head(String(write.key.dropFirst(prefix.count)), in: state) else {
            throw Rejection(.badEndorsement, "a private data batch writes its trial's head only")
        }
        head.dataBatchCount += 1
        guard let expected = try? CanonicalEncoder().encodeBytes(head), write.value == expected else {
            throw Rejection(.badEndorsement, "a private data batch adds one to its trial's data batches, and nothing else")
        }
    }

    public func likelyKeys(_ transaction: VerifiedTransaction) -> [String] {
        let trial: String
        var patient: IdentityID?
        switch Method(rawValue: transaction.body.method) {
        case .register: guard let args = Register(transaction) else { return [] }; trial = args.trial
        case .amend: guard let args = Amend(transaction) else { return [] }; trial = args.trial
        case .consent: guard let args = Consent(transaction) else { return [] }; (trial, patient) = (args.trial, args.patient)
        case .withdraw: guard let args = Withdraw(transaction) else { return [] }; (trial, patient) = (args.trial, args.patient)
        case .enroll: guard let args = Enroll(transaction) else { return [] }; (trial, patient) = (args.trial, args.patient)
        case .submitData: guard let args = SubmitData(transaction) else { return [] }; trial = args.trial
        case .reportResults: guard let args = ReportResults(transaction) else { return [] }; trial = args.trial
        case .publishCriteria: guard let args = PublishCriteria(transaction) else { return [] }; trial = args.trial
        case .recruitMatch: guard let args = RecruitMatch(transaction) else { return [] }; trial = args.trial
        case nil: return []
        }
        var keys = [TrialIndex.headKey(trial)]
        if let patient { keys.append(TrialIndex.participantKey(trial, patient)) }
        return keys
    }

    public func execute(_ call: ContractCall, state: inout StateView) throws(Rejection) {
        switch try Method.of(call) {
        case .register: try register(call, try Register(call), &state)
        case .amend: try amend(call, try Amend(call), &state)
        case .consent: try consent(call, try Consent(call), &state)
        case .withdraw: try withdraw(call, try Withdraw(call), &state)
        case .enroll: try enroll(call, try Enroll(call), &state)
        case .submitData: try submitData(call, try SubmitData(call), &state)
        case .reportResults: try reportResults(call, try ReportResults(call), &state)
        case .publishCriteria: try publishCriteria(call, try PublishCriteria(call), &state)
        case .recruitMatch: try recruitMatch(call, try RecruitMatch(call), &state)
        }
    }

    // MARK: sponsor

    /// A sponsor registers a trial: protocol version 1 with its endpoints, sites and consent form.
    private func register(_ call: ContractCall, _ args: Register, _ state: inout StateView) throws(Rejection) {
        let (sender, sponsor) = try Self.sponsorSide(call, state)
        let (trial, protocolHash, consentFormVersion) = (args.trial, args.protocolHash, UInt64(args.consentFormVersion))
        let (primary, secondary) = (args.primaryEndpoints, args.secondaryEndpoints)
        let sites = try Self.sites(args.sites, state)
        guard TrialIndex.head(trial, in: state) == nil else { throw Rejection(.trialAlreadyRegistered, "trial \(trial) is already registered") }
        let version = TrialVersion(version: 1, protocolHash: protocolHash, consentFormVersion: consentFormVersion,
                                   primaryEndpoints: primary, secondaryEndpoints: secondary, sites: sites, reason: nil,
                                   endpointChange: nil, dataBatchesBefore: 0, author: sender.id, height: call.height, timeMs: call.timeMs)
        try state.set(TrialIndex.headKey(trial), TrialHead(sponsor: sponsor, registeredBy: sender.id, height: call.height, timeMs: call.timeMs))
        try state.set(TrialIndex.versionKey(trial, 1), version)
    }

    /// The sponsor appends a protocol version; unspecified parts carry over, endpoint changes are
    /// recorded with it (pre-registered from this version on).
    private func amend(_ call: ContractCall, _ args: Amend, _ state: inout StateView) throws(Rejection) {
        let (sender, sponsor) = try Self.sponsorSide(call, state)
        let (trial, protocolHash, reason) = (args.trial, args.protocolHash, args.reason)
        let newForm = args.consentFormVersion.map { UInt64($0) }
        let (newPrimary, newSecondary) = (args.primaryEndpoints, args.secondaryEndpoints)
        let newSites = try args.sites.map { sites throws(Rejection) in try Self.sites(sites, state) }
        var (head, current) = try Self.ownTrial(trial, sponsor: sponsor, state)
        guard head.versionCount < Self.versionsMax else {
            throw Rejection(.trialHistoryFull, "trial \(trial) has \(Self.versionsMax) protocol versions, the most allowed")
        }
        guard protocolHash != current.protocolHash else {
            throw Rejection(.protocolUnchanged, "protocol \(protocolHash.hex) is already in force for trial \(trial)")
        }
        if let newForm, newForm <= current.consentFormVersion {
            throw Rejection(.consentFormVersionNotIncreasing,
                            "consent-form version \(newForm) is not above version \(current.consentFormVersion) in force")
        }
        let primary = newPrimary ?? current.primaryEndpoints
        let secondary = newSecondary ?? current.secondaryEndpoints
        if let clash = Set(primary).intersection(secondary).sorted().first {
            throw Rejection(.duplicateEndpoint, "endpoint \(clash) cannot be both primary and secondary")
        }
        let change = TrialEndpointChange.between(oldPrimary: current.primaryEndpoints, oldSecondary: current.secondaryEndpoints,
                                                 newPrimary: primary, newSecondary: secondary)
        let number = head.versionCount + 1
        let version = TrialVersion(version: number, protocolHash: protocolHash, consentFormVersion: newForm ?? current.consentFormVersion,
                                   primaryEndpoints: primary, secondaryEndpoints: secondary, sites: newSites ?? current.sites, reason: reason,
                                   endpointChange: change, dataBatchesBefore: head.dataBatchCount, author: sender.id,
                                   height: call.height, timeMs: call.timeMs)
        head.versionCount = number
        try state.set(TrialIndex.versionKey(trial, number), version)
        try state.set(TrialIndex.headKey(trial), head)
    }

    /// The sponsor reports results; a report that switches primary endpoints is accepted and flagged.
    private func reportResults(_ call: ContractCall, _ args: ReportResults, _ state: inout StateView) throws(Rejection) {
        let (sender, sponsor) = try Self.sponsorSide(call, state)
        let (trial, reported, resultsHash) = (args.trial, args.primaryEndpoints, args.resultsHash)
        var (head, inForce) = try Self.ownTrial(trial, sponsor: sponsor, state)
        guard head.resultCount < Self.resultsMax else {
            throw Rejection(.trialHistoryFull, "trial \(trial) has \(Self.resultsMax) results reports, the most allowed")
        }
        let versions = TrialIndex.versions(trial, count: head.versionCount, in: state)
        let version1 = versions.first ?? inForce
        let everRegistered = versions.reduce(into: Set<String>()) { $0.formUnion($1.endpoints) }
        let added = TrialCodec.minus(reported, inForce.primaryEndpoints)
        let dropped = TrialCodec.minus(inForce.primaryEndpoints, reported)
        let index = head.resultCount + 1
        var flag: OutcomeSwitchFlag?
        if !added.isEmpty || !dropped.isEmpty {
            flag = OutcomeSwitchFlag(resultIndex: index, protocolVersion: inForce.version, added: added, dropped: dropped,
                                     neverRegistered: added.filter { !everRegistered.contains($0) },
                                     version1Primary: version1.primaryEndpoints, inForcePrimary: inForce.primaryEndpoints)
        }
        let result = TrialResult(index: index, primaryEndpoints: reported, resultsHash: resultsHash, protocolVersion: inForce.version,
                                 primaryChangedByAmendment: Set(version1.primaryEndpoints) != Set(inForce.primaryEndpoints),
                                 reporter: sender.id, height: call.height, timeMs: call.timeMs, flag: flag)
        head.resultCount = index
        try state.set(TrialIndex.resultKey(trial, index), result)
        if let flag { try state.set(TrialIndex.flagKey(trial, index), flag) }
        try state.set(TrialIndex.headKey(trial), head)
    }

    /// The sponsor publishes (a new version of) the recruitment eligibility criteria.
    private func publishCriteria(_ call: ContractCall, _ args: PublishCriteria, _ state: inout StateView) throws(Rejection) {
        let (sender, sponsor) = try Self.sponsorSide(call, state)
        let (trial, criteriaHash, criteria) = (args.trial, args.criteriaHash, args.criteria)
        var (head, _) = try Self.ownTrial(trial, sponsor: sponsor, state)
        guard head.criteriaCount < Self.criteriaVersionsMax else {
            throw Rejection(.trialHistoryFull, "trial \(trial) has \(Self.criteriaVersionsMax) criteria versions, the most allowed")
        }
        head.criteriaCount += 1
        let entry = TrialCriteria(version: head.criteriaCount, criteriaHash: criteriaHash, criteria: criteria, publisher: sender.id,
                                  height: call.height)
        try state.set(TrialIndex.criteriaKey(trial, head.criteriaCount), entry)
        try state.set(TrialIndex.headKey(trial), head)
    }

    // MARK: patient

    /// A patient (or delegate) gives research consent to the trial's current consent form, or
    /// re-consents to a newer one.
    private func consent(_ call: ContractCall, _ args: Consent, _ state: inout StateView) throws(Rejection) {
        let (trial, form, contact) = (args.trial, UInt64(args.consentFormVersion), args.recruitmentContact ?? false)
        let (signer, patient) = try Self.patientSide(call, args.patient, state)
        let (_, current) = try Self.existingTrial(trial, state)
        guard form == current.consentFormVersion else {
            throw Rejection(.consentFormVersionMismatch,
                            "trial \(trial) uses consent-form version \(current.consentFormVersion), not \(form)")
        }
        var participant: TrialParticipant
        if var existing = TrialIndex.participant(trial: trial, patient: patient, in: state) {
            guard existing.isActive else { throw Rejection(.participantWithdrawn, "patient \(patient.hex) withdrew from trial \(trial)") }
            guard existing.consentFormVersion != form || existing.recruitmentContact != contact else {
                throw Rejection(.trialAlreadyConsented, "patient \(patient.hex) already consented to version \(form) of trial \(trial)")
            }
            existing.consentFormVersion = form
            existing.recruitmentContact = contact
            existing.consentedBy = signer
            existing.consentedHeight = call.height
            participant = existing
        } else {
            participant = TrialParticipant(trial: trial, patient: patient, consentFormVersion: form, recruitmentContact: contact,
                                           consentedBy: signer, consentedHeight: call.height)
        }
        try state.set(TrialIndex.participantKey(trial, patient), participant)
    }

    /// The patient (or delegate) withdraws: no enrollment or data for them is accepted after this.
    private func withdraw(_ call: ContractCall, _ args: Withdraw, _ state: inout StateView) throws(Rejection) {
        let trial = args.trial
        let (signer, patient) = try Self.patientSide(call, args.patient, state)
        _ = try Self.existingTrial(trial, state)
        guard var participant = TrialIndex.participant(trial: trial, patient: patient, in: state) else {
            throw Rejection(.noResearchConsent, "patient \(patient.hex) holds no consent for trial \(trial)")
        }
        guard participant.isActive else {
            throw Rejection(.participantAlreadyWithdrawn, "patient \(patient.hex) already withdrew from trial \(trial)")
        }
        participant.status = .withdrawn
        participant.recruitmentContact = false
        participant.withdrawnBy = signer
        participant.withdrawnHeight = call.height
        try state.set(TrialIndex.participantKey(trial, patient), participant)
    }

    // MARK: sites

    /// Site staff enroll a patient who consented to the current consent form.
    private func enroll(_ call: ContractCall, _ args: Enroll, _ state: inout StateView) throws(Rejection) {
        let (trial, patient) = (args.trial, args.patient)
        let sender = try Self.siteStaff(call, state)
        var (head, current) = try Self.existingTrial(trial, state)
        let site = try Self.site(of: sender, in: current, trial: trial)
        guard let identity = Directory.identity(patient, in: state), identity.kind == .patient, !identity.revoked else {
            throw Rejection(.unknownTrialPatient, "no active patient \(patient.hex)")
        }
        guard var participant = TrialIndex.participant(trial: trial, patient: patient, in: state) else {
            throw Rejection(.noResearchConsent, "patient \(patient.hex) has not consented to trial \(trial)")
        }
        switch participant.status {
        case .withdrawn: throw Rejection(.participantWithdrawn, "patient \(patient.hex) withdrew from trial \(trial)")
        case .enrolled: throw Rejection(.alreadyEnrolled, "patient \(patient.hex) is already enrolled in trial \(trial)")
        case .consented: break
        }
        guard participant.consentFormVersion == current.consentFormVersion else {
            throw Rejection(.reconsentNeeded, "patient \(patient.hex) consented to consent-form version \(participant.consentFormVersion); "
                            + "trial \(trial) now uses version \(current.consentFormVersion)")
        }
        // A private enrollment is counted in the collection: the shared head would tell every node
        // when someone joined the trial.
        let enrolledPrivately = TrialIndex.enrolledPrivately(trial, in: state)
        guard head.participantCount + enrolledPrivately < Self.participantsMax else {
            throw Rejection(.participantLimitReached, "trial \(trial) has \(Self.participantsMax) participants, the most allowed")
        }
        participant.status = .enrolled
        participant.enrolledBy = sender.id
        participant.enrolledSite = site
        participant.enrolledHeight = call.height
        try state.set(TrialIndex.participantKey(trial, patient), participant)
        if call.envelope != nil {
            state.set(TrialIndex.enrolledKey(trial), .int(Int64(enrolledPrivately + 1)))
            return
        }
        head.participantCount += 1
        try state.set(TrialIndex.headKey(trial), head)
    }

    /// Site staff anchor a batch of case-report-form hashes for an enrolled participant and a
    /// pre-registered endpoint; each hash is anchored once.
    private func submitData(_ call: ContractCall, _ args: SubmitData, _ state: inout StateView) throws(Rejection) {
        let (trial, patient, crfs, endpoint) = (args.trial, args.participant, args.crfHashes, args.endpoint)
        let sender = try Self.siteStaff(call, state)
        var (head, current) = try Self.existingTrial(trial, state)
        let site = try Self.site(of: sender, in: current, trial: trial)
        guard let participant = TrialIndex.participant(trial: trial, patient: patient, in: state) else {
            throw Rejection(.notEnrolled, "patient \(patient.hex) is not enrolled in trial \(trial)")
        }
        switch participant.status {
        case .withdrawn: throw Rejection(.participantWithdrawn, "patient \(patient.hex) withdrew from trial \(trial); their data is refused")
        case .consented: throw Rejection(.notEnrolled, "patient \(patient.hex) is not enrolled in trial \(trial)")
        case .enrolled: break
        }
        guard current.endpoints.contains(endpoint) else {
            throw Rejection(.endpointNotPreregistered, "endpoint \(endpoint) is not pre-registered in version \(current.version) of trial \(trial)")
        }
        guard head.dataBatchCount < Self.dataBatchesMax else {
            throw Rejection(.trialHistoryFull, "trial \(trial) has \(Self.dataBatchesMax) data batches, the most allowed")
        }
        var seen = Set<Hash256>()
        for crf in crfs {
            guard seen.insert(crf).inserted, state.get(TrialIndex.crfKey(crf)) == nil else {
                throw Rejection(.crfAlreadyAnchored, "case report form \(crf.hex) is already anchored")
            }
        }
        let index = head.dataBatchCount + 1
        let batch = TrialDataBatch(index: index, participant: patient, endpoint: endpoint, crfHashes: crfs, site: site, submitter: sender.id,
                                   protocolVersion: current.version, height: call.height, timeMs: call.timeMs)
        for crf in crfs { state.set(TrialIndex.crfKey(crf), .map(["trial": .string(trial), "batch": .int(Int64(index))])) }
        head.dataBatchCount = index
        try state.set(TrialIndex.batchKey(trial, index), batch)
        try state.set(TrialIndex.headKey(trial), head)
    }

    // MARK: recruitment

    /// A custodian announces blinded match tokens for patients it matched off-chain. Nothing is
    /// checked per patient (that would reveal who did not match); tokens are counted per custodian.
    private func recruitMatch(_ call: ContractCall, _ args: RecruitMatch, _ state: inout StateView) throws(Rejection) {
        let (trial, tokens) = (args.trial, args.tokens)
        let sender = try Directory.activeSender(call, in: state)
        let custodian: IdentityID
        if sender.kind == .organization, let type = sender.organizationType, Self.custodianTypes.contains(type) {
            custodian = sender.id
        } else if sender.kind == .member, let org = sender.organization, let type = Directory.organizationType(of: sender, in: state),
                  Self.custodianTypes.contains(type), !Self.siteRoles.isDisjoint(with: sender.effectiveRoles(organizationType: type)) {
            custodian = org
        } else {
            throw Rejection(.notRecruitmentCustodian, "only a hospital or clinic, or its clinician or researcher, announces matches")
        }
        let (head, _) = try Self.existingTrial(trial, state)
        guard head.criteriaCount > 0 else { throw Rejection(.recruitmentNotOpen, "trial \(trial) has published no recruitment criteria") }
        var seen = Set<Hash256>()
        for token in tokens {
            guard seen.insert(token).inserted, state.get(TrialIndex.matchKey(trial, token)) == nil else {
                throw Rejection(.matchTokenAlreadyAnnounced, "match token \(token.hex) is already announced for trial \(trial)")
            }
        }
        let count = TrialIndex.matchCount(trial: trial, custodian: custodian, in: state)
        guard count + UInt64(tokens.count) <= Self.matchTokensPerCustodianMax else {
            throw Rejection(.matchLimitReached, "custodian \(custodian.hex) may announce at most \(Self.matchTokensPerCustodianMax) tokens for trial \(trial)")
        }
        for token in tokens {
            state.set(TrialIndex.matchKey(trial, token), .map(["custodian": .bytes(custodian.bytes), "height": .int(Int64(call.height))]))
        }
        state.set(TrialIndex.matchCountKey(trial, custodian), .int(Int64(count) + Int64(tokens.count)))
    }

    /// Whether a custodian may match the patient for the trial's recruitment: the patient holds a
    /// standing (not withdrawn) trial consent that includes recruitment contact. Pure; the
    /// custodian runs it off-chain before computing a blinded token (`TrialIndex.matchToken`),
    /// so the chain never learns which patients did not match.
    public static func mayContactForRecruitment(trial: String, patient: IdentityID, in reader: any StateReader) -> Bool {
        guard TrialIndex.head(trial, in: reader) != nil,
              let participant = TrialIndex.participant(trial: trial, patient: patient, in: reader) else { return false }
        return participant.isActive && participant.recruitmentContact
    }

    // MARK: helpers

    /// True for 1…32 characters of [A-Za-z0-9-].
    public static func isTrialID(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard !bytes.isEmpty, bytes.count <= trialIdBytesMax else { return false }
        return bytes.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D }
    }

    /// The site list (well formed, see `checkSites`), each an active hospital, clinic or laboratory; sorted.
    private static func sites(_ sites: [IdentityID], _ state: StateView) throws(Rejection) -> [IdentityID] {
        for site in sites {
            guard let org = Directory.identity(site, in: state), org.kind == .organization, !org.revoked,
                  let type = org.organizationType, siteTypes.contains(type) else {
                throw Rejection(.invalidTrialSite, "site \(site.hex) is not an active hospital, clinic or laboratory")
            }
        }
        return sites.sorted()
    }

    /// The sender and the sponsor organization it speaks for: a sponsor organization, or its researcher.
    private static func sponsorSide(_ call: ContractCall, _ state: StateView) throws(Rejection) -> (Identity, IdentityID) {
        let sender = try Directory.activeSender(call, in: state)
        if sender.kind == .organization, sender.organizationType == .sponsor { return (sender, sender.id) }
        if sender.kind == .member, Directory.effectiveRoles(of: sender, in: state).contains(.researcher), let org = sender.organization,
           let organization = Directory.identity(org, in: state), organization.organizationType == .sponsor, !organization.revoked {
            return (sender, org)
        }
        throw Rejection(.notTrialSponsor, "\(call.method) needs a sponsor organization or its researcher")
    }

    /// An existing trial's head and the protocol version in force.
    private static func existingTrial(_ trial: String, _ state: StateView) throws(Rejection) -> (TrialHead, TrialVersion) {
        guard let head = TrialIndex.head(trial, in: state), let current = TrialIndex.version(trial, head.versionCount, in: state) else {
            throw Rejection(.unknownTrial, "no trial \(trial)")
        }
        return (head, current)
    }

    /// An existing trial of `sponsor`.
    private static func ownTrial(_ trial: String, sponsor: IdentityID, _ state: StateView) throws(Rejection) -> (TrialHead, TrialVersion) {
        let (head, current) = try existingTrial(trial, state)
        guard head.sponsor == sponsor else { throw Rejection(.notTrialSponsor, "trial \(trial) belongs to another sponsor") }
        return (head, current)
    }

    /// The sender and the patient of a consent call: the patient or their delegate, for an active patient.
    private static func patientSide(_ call: ContractCall, _ patient: IdentityID, _ state: StateView) throws(Rejection) -> (IdentityID, IdentityID) {
        let sender = try Directory.activeSender(call, in: state)
        guard let identity = Directory.identity(patient, in: state), identity.kind == .patient, !identity.revoked else {
            throw Rejection(.unknownTrialPatient, "no active patient \(patient.hex)")
        }
        guard ConsentIndex.isPatientSide(sender.id, of: patient, in: state) else {
            throw Rejection(.notTrialPatientOrDelegate, "only patient \(patient.hex) or their delegate manages their trial consent")
        }
        return (sender.id, patient)
    }

    /// The sender if it is an active clinician or researcher member.
    private static func siteStaff(_ call: ContractCall, _ state: StateView) throws(Rejection) -> Identity {
        let sender = try Directory.activeSender(call, in: state)
        guard sender.kind == .member, sender.organization != nil,
              !siteRoles.isDisjoint(with: Directory.effectiveRoles(of: sender, in: state)) else {
            throw Rejection(.notSiteStaff, "\(call.method) needs a clinician or researcher of a trial site")
        }
        return sender
    }

    /// The sender's organization if it is a site of the version in force.
    private static func site(of sender: Identity, in current: TrialVersion, trial: String) throws(Rejection) -> IdentityID {
        guard let org = sender.organization, current.sites.contains(org) else {
            throw Rejection(.siteNotInTrial, "organization \(sender.organization?.hex ?? "-") is not a site of trial \(trial)")
        }
        return org
    }
}
