import Contracts
import LedgerCore
import Testing

/// Transaction builders for the trials and telehealth tests (names distinct from other test helpers).
extension Harness {
    /// membership.admitOrganization, signed by the hospital.
    mutating func admitOrg(_ keys: IdentityKeys, _ type: String) -> VerifiedTransaction {
        sign(Harness.hospital, MembershipContract.AdmitOrganization(label: type, organizationType: OrganizationType(rawValue: type)!,
                                                                    signingKey: keys.signingPublicKey, agreementKey: keys.agreementPublicKey))
    }

    static func codeList(_ codes: [String]) -> CanonicalValue { .list(codes.map { .string($0) }) }
    static func idList(_ keys: [IdentityKeys]) -> CanonicalValue { .list(keys.map { .bytes($0.derivedID.bytes) }) }

    /// trials.register with the fixture's defaults, each overridable.
    mutating func trialRegister(_ trial: String = TrialWorld.trial, by keys: IdentityKeys = TrialWorld.sponsorResearcher,
                                primary: [String] = ["PFS"], secondary: [String] = ["OS", "QOL"],
                                sites: [IdentityKeys] = [Harness.hospital, Harness.clinic], form: Int64 = 1,
                                extra: CanonicalMap = [:]) -> VerifiedTransaction {
        sign(keys, TrialsContract.Register(trial: trial, protocolHash: Hash256.sha256(Array("protocol \(trial) 1".utf8)), consentFormVersion: form,
                                           primaryEndpoints: primary, secondaryEndpoints: secondary, sites: sites.map(\.derivedID)),
             overriding: extra)
    }

    /// trials.amend with a protocol hash derived from `protocolLabel`.
    mutating func trialAmend(_ trial: String = TrialWorld.trial, by keys: IdentityKeys = TrialWorld.sponsorResearcher,
                             protocolLabel: String, reason: String = "safety update", primary: [String]? = nil, secondary: [String]? = nil,
                             form: Int64? = nil, sites: [IdentityKeys]? = nil) -> VerifiedTransaction {
        sign(keys, TrialsContract.Amend(trial: trial, protocolHash: Hash256.sha256(Array(protocolLabel.utf8)), reason: reason,
                                        primaryEndpoints: primary, secondaryEndpoints: secondary, consentFormVersion: form,
                                        sites: sites?.map(\.derivedID)))
    }

    /// trials.consent for `patient`, signed by `signer` (the patient by default).
    mutating func trialConsent(_ patient: IdentityKeys, by signer: IdentityKeys? = nil, trial: String = TrialWorld.trial, form: Int64 = 1,
                               contact: CanonicalValue? = nil) -> VerifiedTransaction {
        let call = TrialsContract.Consent(trial: trial, patient: patient.derivedID, consentFormVersion: form, recruitmentContact: contact?.boolValue)
        return sign(signer ?? patient, call, overriding: contact.map { ["recruitmentContact": $0] } ?? [:])
    }

    /// trials.withdraw for `patient`, signed by `signer` (the patient by default).
    mutating func trialWithdraw(_ patient: IdentityKeys, by signer: IdentityKeys? = nil, trial: String = TrialWorld.trial) -> VerifiedTransaction {
        sign(signer ?? patient, TrialsContract.Withdraw(trial: trial, patient: patient.derivedID))
    }

    /// trials.enroll.
    mutating func trialEnroll(_ patient: IdentityKeys, by keys: IdentityKeys = Harness.doctor, trial: String = TrialWorld.trial) -> VerifiedTransaction {
        sign(keys, TrialsContract.Enroll(trial: trial, patient: patient.derivedID))
    }

    /// trials.submitData.
    mutating func trialSubmit(_ patient: IdentityKeys, crfs: [Hash256], endpoint: String = "PFS", by keys: IdentityKeys = Harness.doctor,
                              trial: String = TrialWorld.trial) -> VerifiedTransaction {
        sign(keys, TrialsContract.SubmitData(trial: trial, participant: patient.derivedID, crfHashes: crfs, endpoint: endpoint))
    }

    /// trials.reportResults.
    mutating func trialReport(_ primary: [String], by keys: IdentityKeys = TrialWorld.sponsorResearcher, trial: String = TrialWorld.trial,
                              label: String = "results") -> VerifiedTransaction {
        sign(keys, TrialsContract.ReportResults(trial: trial, primaryEndpoints: primary, resultsHash: Hash256.sha256(Array(label.utf8))))
    }

    /// trials.publishCriteria.
    mutating func trialCriteria(_ criteria: [String] = ["age>=18", "ICD10:C34"], by keys: IdentityKeys = TrialWorld.sponsorResearcher,
                                trial: String = TrialWorld.trial, label: String = "criteria") -> VerifiedTransaction {
        sign(keys, TrialsContract.PublishCriteria(trial: trial, criteriaHash: Hash256.sha256(Array(label.utf8)), criteria: criteria))
    }

    /// trials.recruitMatch.
    mutating func trialMatch(_ tokens: [Hash256], by keys: IdentityKeys = Harness.hospital, trial: String = TrialWorld.trial) -> VerifiedTransaction {
        sign(keys, TrialsContract.RecruitMatch(trial: trial, tokens: tokens))
    }

    /// Rewrites one integer field of a stored map (state surgery, to reach limits quickly in tests).
    mutating func patchInt(_ key: String, field: String?, to value: Int64) {
        var values = state.values
        if let field {
            guard let bytes = values[key], case .map(var map) = try! CanonicalValue(decoding: bytes) else { preconditionFailure("no map at \(key)") }
            map[field] = .int(value)
            values[key] = CanonicalValue.map(map).encoded
        } else {
            values[key] = CanonicalValue.int(value).encoded
        }
        state = MemoryState(values)
    }
}

/// The chain every trial rule row starts from: a sponsor with a researcher, site staff at the
/// hospital and clinic, an outside hospital, a laboratory; trial NCT-0001 (sites hospital and
/// clinic; primary PFS; secondary OS, QOL; consent form 1) with an enrolled patient who has a
/// data batch, a consented patient, an enrolled-then-withdrawn patient, an unconsented patient
/// with a guardian, published criteria and one announced match; and trial NCT-0002 without criteria.
struct TrialWorld: Sendable {
    static let k = Harness.keys
    static let sponsor = k(150), lab = k(151), otherSponsor = k(152), pharmacy = k(153), outsideHospital = k(154)
    static let sponsorResearcher = k(160), sponsorAuditor = k(161), clinicResearcher = k(162), labTech = k(163), outsideDoctor = k(164)
    static let hospitalNurse = k(165), otherSponsorResearcher = k(166)
    static let consented = k(170), withdrawn = k(171), unconsented = k(172), guardian = k(173)
    static let trial = "NCT-0001", trial2 = "NCT-0002"
    static let crf0 = Hash256.sha256([0xA0]), token0 = Hash256.sha256([0xA1])

    static let shared = TrialWorld()

    var h = Harness.standard()

    init() {
        typealias W = TrialWorld
        h.runAccepted([
            h.admitOrg(W.sponsor, "sponsor"), h.admitOrg(W.lab, "laboratory"), h.admitOrg(W.otherSponsor, "sponsor"),
            h.admitOrg(W.pharmacy, "pharmacy"), h.admitOrg(W.outsideHospital, "hospital"),
        ], "organizations")
        h.runAccepted([
            h.enroll(W.sponsorResearcher, by: W.sponsor, roles: ["researcher"]),
            h.enroll(W.sponsorAuditor, by: W.sponsor, roles: ["auditor"]),
            h.enroll(W.clinicResearcher, by: Harness.clinic, roles: ["researcher"]),
            h.enroll(W.labTech, by: W.lab, roles: ["researcher"]),
            h.enroll(W.outsideDoctor, by: W.outsideHospital, roles: ["clinician"]),
            h.enroll(W.hospitalNurse, by: Harness.hospital, roles: ["nurse"]),
            h.enroll(W.otherSponsorResearcher, by: W.otherSponsor, roles: ["researcher"]),
            h.registerPatient(W.consented), h.registerPatient(W.withdrawn), h.registerPatient(W.unconsented), h.registerPatient(W.guardian),
        ], "members and patients")
        h.runAccepted([
            h.trialRegister(),
            h.trialRegister(W.trial2, by: W.sponsor, sites: [Harness.hospital, W.lab]),
            h.addDelegate(W.guardian, by: W.unconsented),
        ], "trials")
        h.runAccepted([
            h.trialConsent(Harness.patient, contact: .bool(true)), h.trialConsent(W.consented), h.trialConsent(W.withdrawn, contact: .bool(true)),
        ], "consents")
        h.runAccepted([h.trialEnroll(Harness.patient), h.trialEnroll(W.withdrawn, by: W.clinicResearcher), h.trialCriteria()], "enrollment")
        h.runAccepted([h.trialSubmit(Harness.patient, crfs: [W.crf0]), h.trialWithdraw(W.withdrawn), h.trialMatch([W.token0])], "data")
    }
}

@Suite("Trials contract rules")
struct TrialRuleTests {
    typealias W = TrialWorld
    typealias Row = ContractRuleRow
    static let H = Harness.self
    static func crf(_ n: UInt8) -> Hash256 { Hash256.sha256([0xC0, n]) }
    static func token(_ n: Int) -> Hash256 { Hash256.sha256([0x70, UInt8(n % 256), UInt8(n / 256)]) }

    static let rows: [Row] = [
        // register
        Row(description: "register by the sponsor's researcher", expected: .accepted) { $0.trialRegister("NCT-0003") },
        Row(description: "register by the sponsor organization, with a laboratory site", expected: .accepted) {
            $0.trialRegister("NCT-0003", by: W.sponsor, sites: [W.lab])
        },
        Row(description: "register by a hospital", expected: .notTrialSponsor) { $0.trialRegister("NCT-0003", by: H.hospital) },
        Row(description: "register by a sponsor's auditor", expected: .notTrialSponsor) { $0.trialRegister("NCT-0003", by: W.sponsorAuditor) },
        Row(description: "register by a hospital clinician", expected: .notTrialSponsor) { $0.trialRegister("NCT-0003", by: H.doctor) },
        Row(description: "register by a patient", expected: .notTrialSponsor) { $0.trialRegister("NCT-0003", by: H.patient) },
        Row(description: "register an id already registered", expected: .trialAlreadyRegistered) { $0.trialRegister(W.trial) },
        Row(description: "register an id with a space", expected: .badArguments) { $0.trialRegister("NCT 0003") },
        Row(description: "register an id of 33 characters", expected: .badArguments) { $0.trialRegister(String(repeating: "A", count: 33)) },
        Row(description: "register with a pharmacy as site", expected: .invalidTrialSite) { $0.trialRegister("NCT-0003", sites: [W.pharmacy]) },
        Row(description: "register with an unknown site", expected: .invalidTrialSite) { $0.trialRegister("NCT-0003", sites: [H.stranger]) },
        Row(description: "register with a clinician as site", expected: .invalidTrialSite) { $0.trialRegister("NCT-0003", sites: [H.doctor]) },
        Row(description: "register with no sites", expected: .badArguments) { $0.trialRegister("NCT-0003", sites: []) },
        Row(description: "register with a site listed twice", expected: .badArguments) {
            $0.trialRegister("NCT-0003", sites: [H.hospital, H.hospital])
        },
        Row(description: "register with 65 sites", expected: .badArguments) {
            $0.trialRegister("NCT-0003", sites: Array(repeating: H.hospital, count: 65))
        },
        Row(description: "register with a primary endpoint listed twice", expected: .duplicateEndpoint) {
            $0.trialRegister("NCT-0003", primary: ["PFS", "PFS"])
        },
        Row(description: "register with an endpoint both primary and secondary", expected: .duplicateEndpoint) {
            $0.trialRegister("NCT-0003", primary: ["PFS"], secondary: ["PFS"])
        },
        Row(description: "register with no primary endpoints", expected: .badArguments) { $0.trialRegister("NCT-0003", primary: []) },
        Row(description: "register with no secondary endpoints", expected: .badArguments) { $0.trialRegister("NCT-0003", secondary: []) },
        Row(description: "register with 33 primary endpoints", expected: .badArguments) {
            $0.trialRegister("NCT-0003", primary: (0..<33).map { "E\($0)" })
        },
        Row(description: "register with a 65-byte endpoint", expected: .badArguments) {
            $0.trialRegister("NCT-0003", primary: [String(repeating: "E", count: 65)])
        },
        Row(description: "register with a non-ASCII endpoint", expected: .badArguments) { $0.trialRegister("NCT-0003", primary: ["überleben"]) },
        Row(description: "register with consent form version 0", expected: .badArguments) { $0.trialRegister("NCT-0003", form: 0) },
        Row(description: "register with a short protocol hash", expected: .badArguments) {
            $0.trialRegister("NCT-0003", extra: ["protocolHash": .bytes([1, 2, 3])])
        },
        Row(description: "register with an unknown argument", expected: .badArguments) {
            $0.trialRegister("NCT-0003", extra: ["title": .string("x")])
        },
        // amend
        Row(description: "amend by the sponsor's researcher", expected: .accepted) { $0.trialAmend(protocolLabel: "v2", form: 2) },
        Row(description: "amend by the sponsor organization", expected: .accepted) { $0.trialAmend(by: W.sponsor, protocolLabel: "v2") },
        Row(description: "amend by another sponsor", expected: .notTrialSponsor) {
            $0.trialAmend(by: W.otherSponsorResearcher, protocolLabel: "v2")
        },
        Row(description: "amend by a site clinician", expected: .notTrialSponsor) { $0.trialAmend(by: H.doctor, protocolLabel: "v2") },
        Row(description: "amend an unknown trial", expected: .unknownTrial) { $0.trialAmend("NCT-9999", protocolLabel: "v2") },
        Row(description: "amend with the protocol in force", expected: .protocolUnchanged) {
            $0.trialAmend(protocolLabel: "protocol \(W.trial) 1")
        },
        Row(description: "amend keeping the consent form version", expected: .consentFormVersionNotIncreasing) {
            $0.trialAmend(protocolLabel: "v2", form: 1)
        },
        Row(description: "amend lowering the consent form version", expected: .consentFormVersionNotIncreasing,
            prepare: { [$0.trialAmend(protocolLabel: "v2", form: 3)] }) { $0.trialAmend(protocolLabel: "v3", form: 2) },
        Row(description: "amend with a 201-byte reason", expected: .badArguments) {
            $0.trialAmend(protocolLabel: "v2", reason: String(repeating: "r", count: 201))
        },
        Row(description: "amend without a reason", expected: .badArguments) { $0.trialAmend(protocolLabel: "v2", reason: "") },
        Row(description: "amend making a secondary endpoint also primary", expected: .duplicateEndpoint) {
            $0.trialAmend(protocolLabel: "v2", primary: ["PFS", "OS"])
        },
        Row(description: "amend with an endpoint listed twice", expected: .duplicateEndpoint) {
            $0.trialAmend(protocolLabel: "v2", secondary: ["QOL", "QOL"])
        },
        Row(description: "amend with a pharmacy site", expected: .invalidTrialSite) { $0.trialAmend(protocolLabel: "v2", sites: [W.pharmacy]) },
        Row(description: "amend past the protocol version limit", expected: .trialHistoryFull,
            prepare: { h in (2...TrialsContract.versionsMax).map { h.trialAmend(protocolLabel: "v\($0)") } }) {
            $0.trialAmend(protocolLabel: "one too many")
        },
        // consent
        Row(description: "consent by the patient", expected: .accepted) { $0.trialConsent(W.unconsented, contact: .bool(true)) },
        Row(description: "consent by the patient's delegate", expected: .accepted) { $0.trialConsent(W.unconsented, by: W.guardian) },
        Row(description: "consent signed by a clinician", expected: .notTrialPatientOrDelegate) { $0.trialConsent(W.unconsented, by: H.doctor) },
        Row(description: "consent signed by another patient", expected: .notTrialPatientOrDelegate) {
            $0.trialConsent(W.unconsented, by: W.consented)
        },
        Row(description: "consent for an unknown patient", expected: .unknownTrialPatient) { $0.trialConsent(H.stranger, by: H.patient) },
        Row(description: "consent for a member as patient", expected: .unknownTrialPatient) { $0.trialConsent(H.doctor, by: H.patient) },
        Row(description: "consent to an unknown trial", expected: .unknownTrial) { $0.trialConsent(W.unconsented, trial: "NCT-9999") },
        Row(description: "consent to a superseded consent form version", expected: .consentFormVersionMismatch,
            prepare: { [$0.trialAmend(protocolLabel: "v2", form: 2)] }) { $0.trialConsent(W.unconsented, form: 1) },
        Row(description: "consent to a consent form version not yet issued", expected: .consentFormVersionMismatch) {
            $0.trialConsent(W.unconsented, form: 2)
        },
        Row(description: "consent twice to the same version", expected: .trialAlreadyConsented) { $0.trialConsent(W.consented) },
        Row(description: "consent again to add recruitment contact", expected: .accepted) { $0.trialConsent(W.consented, contact: .bool(true)) },
        Row(description: "re-consent to a new consent form version", expected: .accepted,
            prepare: { [$0.trialAmend(protocolLabel: "v2", form: 2)] }) { $0.trialConsent(W.consented, form: 2) },
        Row(description: "consent after withdrawing", expected: .participantWithdrawn) { $0.trialConsent(W.withdrawn) },
        Row(description: "consent with a non-boolean recruitment contact", expected: .badArguments) {
            $0.trialConsent(W.unconsented, contact: .string("yes"))
        },
        // withdraw
        Row(description: "withdraw by an enrolled patient", expected: .accepted) { $0.trialWithdraw(H.patient) },
        Row(description: "withdraw by a consented patient", expected: .accepted) { $0.trialWithdraw(W.consented) },
        Row(description: "withdraw by the patient's delegate", expected: .accepted, prepare: { [$0.trialConsent(W.unconsented)] }) {
            $0.trialWithdraw(W.unconsented, by: W.guardian)
        },
        Row(description: "withdraw without consent", expected: .noResearchConsent) { $0.trialWithdraw(W.unconsented) },
        Row(description: "withdraw twice", expected: .participantAlreadyWithdrawn) { $0.trialWithdraw(W.withdrawn) },
        Row(description: "withdraw signed by a clinician", expected: .notTrialPatientOrDelegate) { $0.trialWithdraw(H.patient, by: H.doctor) },
        Row(description: "withdraw from an unknown trial", expected: .unknownTrial) { $0.trialWithdraw(H.patient, trial: "NCT-9999") },
        // enroll
        Row(description: "enroll a consented patient by a site clinician", expected: .accepted) { $0.trialEnroll(W.consented) },
        Row(description: "enroll a consented patient by a site researcher", expected: .accepted) {
            $0.trialEnroll(W.consented, by: W.clinicResearcher)
        },
        Row(description: "enroll without consent", expected: .noResearchConsent) { $0.trialEnroll(W.unconsented) },
        Row(description: "enroll with consent for an old consent form version", expected: .reconsentNeeded,
            prepare: { [$0.trialAmend(protocolLabel: "v2", form: 2)] }) { $0.trialEnroll(W.consented) },
        Row(description: "enroll after re-consent to the new consent form", expected: .accepted,
            prepare: { [$0.trialAmend(protocolLabel: "v2", form: 2), $0.trialConsent(W.consented, form: 2)] }) { $0.trialEnroll(W.consented) },
        Row(description: "enroll twice", expected: .alreadyEnrolled) { $0.trialEnroll(H.patient) },
        Row(description: "enroll a withdrawn participant", expected: .participantWithdrawn) { $0.trialEnroll(W.withdrawn) },
        Row(description: "enroll by a clinician of a non-site hospital", expected: .siteNotInTrial) { $0.trialEnroll(W.consented, by: W.outsideDoctor) },
        Row(description: "enroll by a site removed by amendment", expected: .siteNotInTrial,
            prepare: { [$0.trialAmend(protocolLabel: "v2", sites: [H.hospital])] }) { $0.trialEnroll(W.consented, by: W.clinicResearcher) },
        Row(description: "enroll by a site nurse", expected: .notSiteStaff) { $0.trialEnroll(W.consented, by: W.hospitalNurse) },
        Row(description: "enroll by the site organization itself", expected: .notSiteStaff) { $0.trialEnroll(W.consented, by: H.hospital) },
        Row(description: "enroll by the sponsor's researcher", expected: .siteNotInTrial) { $0.trialEnroll(W.consented, by: W.sponsorResearcher) },
        Row(description: "enroll an unknown patient", expected: .unknownTrialPatient) { $0.trialEnroll(H.stranger) },
        Row(description: "enroll in an unknown trial", expected: .unknownTrial) { $0.trialEnroll(W.consented, trial: "NCT-9999") },
        Row(description: "enroll past the participant limit", expected: .participantLimitReached,
            prepare: { h in
                h.patchInt("trials/trial/\(W.trial)", field: "participants", to: Int64(TrialsContract.participantsMax))
                return []
            }) { $0.trialEnroll(W.consented) },
        // submitData
        Row(description: "data for an enrolled participant", expected: .accepted) { $0.trialSubmit(H.patient, crfs: [crf(1), crf(2)]) },
        Row(description: "data for a secondary endpoint", expected: .accepted) { $0.trialSubmit(H.patient, crfs: [crf(1)], endpoint: "QOL") },
        Row(description: "data of a withdrawn participant", expected: .participantWithdrawn) {
            $0.trialSubmit(W.withdrawn, crfs: [crf(1)], by: W.clinicResearcher)
        },
        Row(description: "data for a consented but not enrolled patient", expected: .notEnrolled) { $0.trialSubmit(W.consented, crfs: [crf(1)]) },
        Row(description: "data for a patient without consent", expected: .notEnrolled) { $0.trialSubmit(W.unconsented, crfs: [crf(1)]) },
        Row(description: "data for an unregistered endpoint", expected: .endpointNotPreregistered) {
            $0.trialSubmit(H.patient, crfs: [crf(1)], endpoint: "PAIN")
        },
        Row(description: "data for an endpoint dropped by amendment", expected: .endpointNotPreregistered,
            prepare: { [$0.trialAmend(protocolLabel: "v2", secondary: ["OS"])] }) { $0.trialSubmit(H.patient, crfs: [crf(1)], endpoint: "QOL") },
        Row(description: "data for an endpoint added by amendment", expected: .accepted,
            prepare: { [$0.trialAmend(protocolLabel: "v2", secondary: ["OS", "QOL", "PAIN"])] }) {
            $0.trialSubmit(H.patient, crfs: [crf(1)], endpoint: "PAIN")
        },
        Row(description: "data with a CRF hash already anchored", expected: .crfAlreadyAnchored) {
            $0.trialSubmit(H.patient, crfs: [crf(1), W.crf0])
        },
        Row(description: "data with a CRF hash listed twice", expected: .crfAlreadyAnchored) { $0.trialSubmit(H.patient, crfs: [crf(1), crf(1)]) },
        Row(description: "data from a non-site hospital", expected: .siteNotInTrial) { $0.trialSubmit(H.patient, crfs: [crf(1)], by: W.outsideDoctor) },
        Row(description: "data by a site nurse", expected: .notSiteStaff) { $0.trialSubmit(H.patient, crfs: [crf(1)], by: W.hospitalNurse) },
        Row(description: "data with no CRF hashes", expected: .badArguments) { $0.trialSubmit(H.patient, crfs: []) },
        Row(description: "data with 257 CRF hashes", expected: .badArguments) {
            $0.trialSubmit(H.patient, crfs: (0..<257).map { Hash256.sha256([0xC1, UInt8($0 % 256), UInt8($0 / 256)]) })
        },
        Row(description: "data for an unknown trial", expected: .unknownTrial) { $0.trialSubmit(H.patient, crfs: [crf(1)], trial: "NCT-9999") },
        Row(description: "data past the batch limit", expected: .trialHistoryFull,
            prepare: { h in
                h.patchInt("trials/trial/\(W.trial)", field: "batches", to: Int64(TrialsContract.dataBatchesMax))
                return []
            }) { $0.trialSubmit(H.patient, crfs: [crf(1)]) },
        // reportResults
        Row(description: "results naming the registered primary endpoint", expected: .accepted) { $0.trialReport(["PFS"]) },
        Row(description: "results with a swapped primary endpoint (accepted, flagged)", expected: .accepted) { $0.trialReport(["OS"]) },
        Row(description: "results by another sponsor", expected: .notTrialSponsor) { $0.trialReport(["PFS"], by: W.otherSponsorResearcher) },
        Row(description: "results by a site clinician", expected: .notTrialSponsor) { $0.trialReport(["PFS"], by: H.doctor) },
        Row(description: "results with an endpoint listed twice", expected: .duplicateEndpoint) { $0.trialReport(["PFS", "PFS"]) },
        Row(description: "results with no endpoints", expected: .badArguments) { $0.trialReport([]) },
        Row(description: "results for an unknown trial", expected: .unknownTrial) { $0.trialReport(["PFS"], trial: "NCT-9999") },
        Row(description: "results past the report limit", expected: .trialHistoryFull,
            prepare: { h in (0..<Int(TrialsContract.resultsMax)).map { h.trialReport(["PFS"], label: "r\($0)") } }) {
            $0.trialReport(["PFS"])
        },
        // publishCriteria
        Row(description: "publish new criteria", expected: .accepted) { $0.trialCriteria(["age>=65"], label: "criteria 2") },
        Row(description: "publish criteria by a hospital", expected: .notTrialSponsor) { $0.trialCriteria(by: H.hospital) },
        Row(description: "publish criteria for another sponsor's trial", expected: .notTrialSponsor) {
            $0.trialCriteria(by: W.otherSponsorResearcher)
        },
        Row(description: "publish a criterion twice", expected: .duplicateCriterion) { $0.trialCriteria(["age>=18", "age>=18"]) },
        Row(description: "publish no criteria", expected: .badArguments) { $0.trialCriteria([]) },
        Row(description: "publish 33 criteria", expected: .badArguments) { $0.trialCriteria((0..<33).map { "c\($0)" }) },
        Row(description: "publish a non-ASCII criterion", expected: .badArguments) { $0.trialCriteria(["âge>=18"]) },
        Row(description: "publish criteria for an unknown trial", expected: .unknownTrial) { $0.trialCriteria(trial: "NCT-9999") },
        Row(description: "publish criteria past the version limit", expected: .trialHistoryFull,
            prepare: { h in (2...Int(TrialsContract.criteriaVersionsMax)).map { h.trialCriteria(label: "criteria \($0)") } }) {
            $0.trialCriteria(label: "one too many")
        },
        // recruitMatch
        Row(description: "match tokens announced by a hospital", expected: .accepted) { $0.trialMatch([token(1), token(2)]) },
        Row(description: "match tokens announced by a clinic researcher", expected: .accepted) {
            $0.trialMatch([token(1)], by: W.clinicResearcher)
        },
        Row(description: "match tokens announced by a sponsor", expected: .notRecruitmentCustodian) { $0.trialMatch([token(1)], by: W.sponsor) },
        Row(description: "match tokens announced by a laboratory", expected: .notRecruitmentCustodian) { $0.trialMatch([token(1)], by: W.lab) },
        Row(description: "match tokens announced by a hospital nurse", expected: .notRecruitmentCustodian) {
            $0.trialMatch([token(1)], by: W.hospitalNurse)
        },
        Row(description: "match tokens announced by a patient", expected: .notRecruitmentCustodian) { $0.trialMatch([token(1)], by: H.patient) },
        Row(description: "match tokens for an unknown trial", expected: .unknownTrial) { $0.trialMatch([token(1)], trial: "NCT-9999") },
        Row(description: "match tokens before criteria are published", expected: .recruitmentNotOpen) {
            $0.trialMatch([token(1)], trial: W.trial2)
        },
        Row(description: "match token already announced", expected: .matchTokenAlreadyAnnounced) { $0.trialMatch([token(1), W.token0]) },
        Row(description: "match token already announced by another custodian", expected: .matchTokenAlreadyAnnounced) {
            $0.trialMatch([W.token0], by: H.clinic)
        },
        Row(description: "match token listed twice", expected: .matchTokenAlreadyAnnounced) { $0.trialMatch([token(1), token(1)]) },
        Row(description: "no match tokens", expected: .badArguments) { $0.trialMatch([]) },
        Row(description: "257 match tokens", expected: .badArguments) { $0.trialMatch((0..<257).map(token)) },
        Row(description: "match tokens past the per-custodian limit", expected: .matchLimitReached,
            prepare: { h in
                h.patchInt("trials/match-count/\(W.trial)/\(H.hospital.derivedID.hex)", field: nil,
                           to: Int64(TrialsContract.matchTokensPerCustodianMax) - 1)
                return []
            }) { $0.trialMatch([token(1), token(2)]) },
    ]

    @Test(arguments: rows)
    func rule(_ row: Row) { row.check(on: W.shared.h) }

    @Test func rowsAreDistinct() {
        #expect(Set(Self.rows.map(\.description)).count == Self.rows.count)
    }

    /// Registration, consent, enrollment, data, criteria and matches, read back through the public helpers.
    @Test func happyPathReadBack() throws {
        let h = W.shared.h
        let trial = try #require(TrialIndex.trial(W.trial, in: h.state))
        #expect(trial.sponsor == W.sponsor.derivedID && trial.registeredBy == W.sponsorResearcher.derivedID)
        #expect(trial.versions.count == 1 && trial.current.version == 1)
        #expect(trial.current.primaryEndpoints == ["PFS"] && trial.current.secondaryEndpoints == ["OS", "QOL"])
        #expect(trial.current.sites == [Harness.hospital.derivedID, Harness.clinic.derivedID].sorted())
        #expect(trial.current.protocolHash == Hash256.sha256(Array("protocol \(W.trial) 1".utf8)))
        #expect(trial.current.consentFormVersion == 1 && trial.current.reason == nil && trial.current.endpointChange == nil)
        #expect(trial.participantCount == 2 && trial.dataBatchCount == 1 && trial.resultCount == 0 && trial.criteriaCount == 1)
        #expect(TrialIndex.dataBatchCount(trial: W.trial, in: h.state) == 1)
        #expect(TrialIndex.dataBatchCount(trial: "NCT-9999", in: h.state) == 0)

        let enrolled = try #require(TrialIndex.participant(trial: W.trial, patient: Harness.patientID, in: h.state))
        #expect(enrolled.status == .enrolled && enrolled.consentFormVersion == 1 && enrolled.recruitmentContact)
        #expect(enrolled.enrolledBy == Harness.doctor.derivedID && enrolled.enrolledSite == Harness.hospital.derivedID)
        let consented = try #require(TrialIndex.participant(trial: W.trial, patient: W.consented.derivedID, in: h.state))
        #expect(consented.status == .consented && !consented.recruitmentContact && consented.enrolledHeight == nil)
        let withdrawn = try #require(TrialIndex.participant(trial: W.trial, patient: W.withdrawn.derivedID, in: h.state))
        #expect(withdrawn.status == .withdrawn && withdrawn.withdrawnBy == W.withdrawn.derivedID && withdrawn.enrolledSite == Harness.clinic.derivedID)
        #expect(TrialIndex.participant(trial: W.trial, patient: W.unconsented.derivedID, in: h.state) == nil)

        let batch = try #require(TrialIndex.dataBatch(trial: W.trial, index: 1, in: h.state))
        #expect(batch.participant == Harness.patientID && batch.crfHashes == [W.crf0] && batch.endpoint == "PFS")
        #expect(batch.site == Harness.hospital.derivedID && batch.protocolVersion == 1)
        #expect(TrialIndex.crf(W.crf0, in: h.state)?.trial == W.trial && TrialIndex.crf(W.crf0, in: h.state)?.batch == 1)
        #expect(TrialIndex.criteria(trial: W.trial, in: h.state)?.criteria == ["age>=18", "ICD10:C34"])
        #expect(TrialIndex.criteria(trial: W.trial2, in: h.state) == nil)
        #expect(TrialIndex.matchCount(trial: W.trial, custodian: Harness.hospital.derivedID, in: h.state) == 1)
        #expect(TrialIndex.results(trial: W.trial, in: h.state).isEmpty)
    }

    /// Amendments append versions; version 1 stays readable as registered, and each endpoint
    /// change is recorded with the amendment that declared it.
    @Test func amendmentsAppendVersions() throws {
        var h = W.shared.h
        let v1 = try #require(TrialIndex.protocolVersion(W.trial, 1, in: h.state))
        h.runAccepted([h.trialAmend(protocolLabel: "v2", reason: "new QoL instrument", form: 2)])
        h.runAccepted([h.trialAmend(protocolLabel: "v3", reason: "OS becomes primary", primary: ["OS"], secondary: ["PFS", "QOL"],
                                    sites: [Harness.hospital, TrialWorld.lab])])
        let trial = try #require(TrialIndex.trial(W.trial, in: h.state))
        #expect(trial.versions.map(\.version) == [1, 2, 3])
        #expect(trial.versions[0] == v1)
        #expect(trial.versions[1].consentFormVersion == 2 && trial.versions[1].endpointChange == nil && trial.versions[1].reason == "new QoL instrument")
        #expect(trial.versions[1].primaryEndpoints == ["PFS"] && trial.versions[1].sites == v1.sites)
        let change = try #require(trial.current.endpointChange)
        #expect(change.primaryAdded == ["OS"] && change.primaryDropped == ["PFS"])
        #expect(change.secondaryAdded == ["PFS"] && change.secondaryDropped == ["OS"])
        #expect(trial.current.consentFormVersion == 2 && trial.current.dataBatchesBefore == 1)
        #expect(trial.current.sites == [Harness.hospital.derivedID, TrialWorld.lab.derivedID].sorted())
    }

    /// One outcome-switching case: amendments to run first, the reported primaries, and the flag expected.
    struct SwitchCase: CustomStringConvertible, Sendable {
        let description: String
        var amend: [String]? = nil
        let reported: [String]
        /// nil: not flagged; else (added, dropped, neverRegistered).
        let flag: (added: [String], dropped: [String], never: [String])?
        var changedByAmendment = false
    }

    static let switchCases: [SwitchCase] = [
        SwitchCase(description: "honest report", reported: ["PFS"], flag: nil),
        SwitchCase(description: "primary swapped with a secondary without amendment", reported: ["OS"], flag: (["OS"], ["PFS"], [])),
        SwitchCase(description: "primary swapped after an amendment pre-registered it", amend: ["OS"], reported: ["OS"], flag: nil,
                   changedByAmendment: true),
        SwitchCase(description: "reports version 1's primary after an amendment replaced it", amend: ["OS"], reported: ["PFS"],
                   flag: (["PFS"], ["OS"], []), changedByAmendment: true),
        SwitchCase(description: "names a primary endpoint never pre-registered", reported: ["PFS", "RESPONSE"], flag: (["RESPONSE"], [], ["RESPONSE"])),
        SwitchCase(description: "silently drops a primary endpoint", amend: ["PFS", "OS"], reported: ["PFS"], flag: ([], ["OS"], []),
                   changedByAmendment: true),
        SwitchCase(description: "primary endpoint added by amendment, reported in full", amend: ["PFS", "OS"], reported: ["OS", "PFS"], flag: nil,
                   changedByAmendment: true),
    ]

    /// Results are always accepted; switched outcomes are flagged with the specific endpoints,
    /// and a change an amendment pre-registered is not.
    @Test(arguments: switchCases)
    func outcomeSwitching(_ c: SwitchCase) throws {
        var h = W.shared.h
        if let primary = c.amend {
            h.runAccepted([h.trialAmend(protocolLabel: "v2", primary: primary, secondary: ["PFS", "OS", "QOL"].filter { !primary.contains($0) })])
        }
        let result = h.run([h.trialReport(c.reported)])[0]
        #expect(result.isAccepted, "\(result.message)")
        let results = TrialIndex.results(trial: W.trial, in: h.state)
        let report = try #require(results.first)
        #expect(results.count == 1 && report.index == 1 && report.primaryEndpoints == c.reported)
        #expect(report.protocolVersion == (c.amend == nil ? 1 : 2) && report.primaryChangedByAmendment == c.changedByAmendment)
        #expect(report.resultsHash == Hash256.sha256(Array("results".utf8)) && report.reporter == W.sponsorResearcher.derivedID)
        let flags = TrialIndex.flags(trial: W.trial, in: h.state)
        guard let expected = c.flag else {
            #expect(!report.isFlagged && flags.isEmpty)
            return
        }
        let flag = try #require(report.flag)
        #expect(flags == [flag])
        #expect(flag.added == expected.added && flag.dropped == expected.dropped && flag.neverRegistered == expected.never)
        #expect(flag.resultIndex == 1 && flag.version1Primary == ["PFS"] && flag.protocolVersion == report.protocolVersion)
    }

    /// Withdrawal takes effect at once: data anchored before it in the same block stands, data
    /// after it (same block or the next) is refused with the withdrawn-participant code.
    @Test func withdrawalIsImmediate() {
        var h = W.shared.h
        let results = h.run([
            h.trialSubmit(Harness.patient, crfs: [Self.crf(0x10)]), h.trialWithdraw(Harness.patient),
            h.trialSubmit(Harness.patient, crfs: [Self.crf(0x11)]),
        ])
        #expect(results.map(\.code) == [0, 0, ResultCode.participantWithdrawn.rawValue])
        let next = h.run([h.trialSubmit(Harness.patient, crfs: [Self.crf(0x12)])])[0]
        #expect(next.code == ResultCode.participantWithdrawn.rawValue)
        #expect(TrialIndex.dataBatchCount(trial: W.trial, in: h.state) == 2)
        #expect(TrialIndex.participant(trial: W.trial, patient: Harness.patientID, in: h.state)?.status == .withdrawn)
    }

    /// Re-consent: consent for form 1, the sponsor issues form 2, enrollment waits for re-consent.
    @Test func reconsentFlow() throws {
        var h = W.shared.h
        h.runAccepted([h.trialAmend(protocolLabel: "v2", form: 2)])
        #expect(h.run([h.trialEnroll(W.consented)])[0].code == ResultCode.reconsentNeeded.rawValue)
        h.runAccepted([h.trialConsent(W.consented, form: 2)])
        h.runAccepted([h.trialEnroll(W.consented)])
        let participant = try #require(TrialIndex.participant(trial: W.trial, patient: W.consented.derivedID, in: h.state))
        #expect(participant.status == .enrolled && participant.consentFormVersion == 2)
        #expect(TrialIndex.trial(W.trial, in: h.state)?.participantCount == 3)
    }

    /// The recruitment helper answers only from consents with recruitment contact; the contract
    /// counts the custodian's blinded tokens and learns nothing about who did not match.
    @Test func recruitmentMatching() {
        var h = W.shared.h
        let secret = Array("custodian secret".utf8)
        let candidates = [Harness.patient, W.consented, W.withdrawn, W.unconsented]
        let may = candidates.map { TrialsContract.mayContactForRecruitment(trial: W.trial, patient: $0.derivedID, in: h.state) }
        #expect(may == [true, false, false, false])
        #expect(!TrialsContract.mayContactForRecruitment(trial: "NCT-9999", patient: Harness.patientID, in: h.state))
        let tokens = candidates.filter { TrialsContract.mayContactForRecruitment(trial: W.trial, patient: $0.derivedID, in: h.state) }
            .map { TrialIndex.matchToken(trial: W.trial, patient: $0.derivedID, secret: secret) }
        let before = h.state.values
        h.runAccepted([h.trialMatch(tokens)])
        #expect(TrialIndex.matchCount(trial: W.trial, custodian: Harness.hospital.derivedID, in: h.state) == 2)
        // Only the token and the count are written: no key names a patient.
        let written = h.changedKeys(since: before).filter { !$0.hasPrefix("system/") }
        #expect(written.count == 2 && !written.contains { key in candidates.contains { key.contains($0.derivedID.hex) } })
        // Withdrawing ends recruitment contact.
        h.runAccepted([h.trialWithdraw(Harness.patient)])
        #expect(!TrialsContract.mayContactForRecruitment(trial: W.trial, patient: Harness.patientID, in: h.state))
        #expect(TrialIndex.matchToken(trial: W.trial, patient: Harness.patientID, secret: secret)
                != TrialIndex.matchToken(trial: W.trial2, patient: Harness.patientID, secret: secret))
    }

    /// Replaying the fixture's history (trials and a telehealth session included) from genesis
    /// with the verifier's replayer reaches the same state and state root.
    @Test func replayIsDeterministic() {
        var h = W.shared.h
        h.runAccepted([h.trialAmend(protocolLabel: "v2", primary: ["OS"], secondary: ["PFS", "QOL"]), h.trialReport(["OS"])])
        h.runAccepted([h.telehealthOpen(Hash256.sha256([0x5E]))])
        var replayer = ContractReplayer(executor: h.executor)
        var root = Hash256.zero
        for entry in h.history {
            let header = BlockHeader(chainId: Harness.chainId, height: entry.height, previousHash: .zero, timeMs: entry.timeMs,
                                     transactionCount: UInt32(entry.transactions.count), transactionsRoot: .zero, logSize: 0,
                                     logRoot: .zero, resultsRoot: .zero, stateRoot: .zero, ordererKey: Harness.orderer.signingPublicKey)
            root = replayer.replay(header: header, transactions: entry.transactions).writeSet.stateRoot(after: root)
        }
        #expect(root == h.stateRoot)
        #expect(replayer.state.values == h.state.values)
        #expect(TrialIndex.trial(W.trial, in: replayer.state) == TrialIndex.trial(W.trial, in: h.state))
    }
}
