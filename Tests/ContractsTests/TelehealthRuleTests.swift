import Contracts
import LedgerCore
import Testing

extension Harness {
    /// telehealth.open by `keys` (the harness doctor by default) with the harness patient.
    mutating func telehealthOpen(_ session: Hash256, by keys: IdentityKeys = Harness.doctor, patient: IdentityID = Harness.patientID,
                                 record: Bool = true, startMs: Int64 = 1_000, extra: CanonicalMap = [:]) -> VerifiedTransaction {
        sign(keys, TelehealthContract.Open(session: session, patient: patient, consentToRecord: record,
                                           keyCommitment: Hash256.sha256(session.bytes + [0x4B]), startMs: startMs),
             overriding: extra)
    }

    /// telehealth.join.
    mutating func telehealthJoin(_ session: Hash256, by keys: IdentityKeys = Harness.patient) -> VerifiedTransaction {
        sign(keys, TelehealthContract.Join(session: session))
    }

    /// telehealth.end.
    mutating func telehealthEnd(_ session: Hash256, by keys: IdentityKeys = Harness.doctor, transcript: Hash256 = TelehealthWorld.transcript,
                                messages: Int64 = 12, endMs: Int64 = 1_010) -> VerifiedTransaction {
        sign(keys, TelehealthContract.End(session: session, transcriptHash: transcript, messageCount: messages, endMs: endMs))
    }
}

/// The chain every telehealth rule row starts from: the harness doctor (hospital clinician), a
/// hospital nurse, a clinic clinician, the patient with a guardian, another patient, and four
/// sessions of the doctor with the patient: opened, active (recorded), active (not recorded), ended.
struct TelehealthWorld: Sendable {
    static let k = Harness.keys
    static let nurse = k(180), clinicDoctor = k(181), guardian = k(182), otherPatient = k(183)
    static let opened = Hash256.sha256([0x51]), active = Hash256.sha256([0x52]), unrecorded = Hash256.sha256([0x53])
    static let ended = Hash256.sha256([0x54]), fresh = Hash256.sha256([0x55])
    static let transcript = Hash256.sha256(Array("transcript".utf8))

    static let shared = TelehealthWorld()

    var h = Harness.standard()

    init() {
        typealias W = TelehealthWorld
        h.runAccepted([
            h.enroll(W.nurse, by: Harness.hospital, roles: ["nurse"]), h.enroll(W.clinicDoctor, by: Harness.clinic, roles: ["clinician"]),
            h.registerPatient(W.guardian), h.registerPatient(W.otherPatient),
        ], "staff")
        h.runAccepted([
            h.addDelegate(W.guardian), h.telehealthOpen(W.opened), h.telehealthOpen(W.active), h.telehealthOpen(W.unrecorded, record: false),
            h.telehealthOpen(W.ended),
        ], "sessions")
        h.runAccepted([h.telehealthJoin(W.active), h.telehealthJoin(W.unrecorded), h.telehealthJoin(W.ended)], "joins")
        h.runAccepted([h.telehealthEnd(W.ended)], "end")
    }
}

@Suite("Telehealth contract rules")
struct TelehealthRuleTests {
    typealias W = TelehealthWorld
    typealias Row = ContractRuleRow
    static let H = Harness.self

    static let rows: [Row] = [
        // open
        Row(description: "open by a clinician", expected: .accepted) { $0.telehealthOpen(W.fresh) },
        Row(description: "open without consent to record", expected: .accepted) { $0.telehealthOpen(W.fresh, record: false) },
        Row(description: "open by a clinician of another organization", expected: .accepted) { $0.telehealthOpen(W.fresh, by: W.clinicDoctor) },
        Row(description: "open by a nurse", expected: .sessionNeedsClinician) { $0.telehealthOpen(W.fresh, by: W.nurse) },
        Row(description: "open by an organization", expected: .sessionNeedsClinician) { $0.telehealthOpen(W.fresh, by: H.hospital) },
        Row(description: "open by a patient", expected: .sessionNeedsClinician) { $0.telehealthOpen(W.fresh, by: H.patient) },
        Row(description: "open with an unknown patient", expected: .sessionPatientUnknown) {
            $0.telehealthOpen(W.fresh, patient: H.stranger.derivedID)
        },
        Row(description: "open with a member as patient", expected: .sessionPatientUnknown) {
            $0.telehealthOpen(W.fresh, patient: W.nurse.derivedID)
        },
        Row(description: "open a session id already used", expected: .sessionAlreadyExists) { $0.telehealthOpen(W.ended) },
        Row(description: "open with an all-zero session id", expected: .badArguments) { $0.telehealthOpen(.zero) },
        Row(description: "open starting over 5 minutes after the block time", expected: .badSessionTime) {
            $0.telehealthOpen(W.fresh, startMs: 400_000)
        },
        Row(description: "open without consentToRecord", expected: .badArguments) {
            $0.sign(H.doctor, "telehealth", "open", [
                "session": .bytes(W.fresh.bytes), "patient": .bytes(H.patientID.bytes),
                "keyCommitment": .bytes(W.transcript.bytes), "startMs": .int(1_000),
            ])
        },
        Row(description: "open with a short key commitment", expected: .badArguments) {
            $0.telehealthOpen(W.fresh, extra: ["keyCommitment": .bytes([1, 2, 3])])
        },
        Row(description: "open with an unknown argument", expected: .badArguments) {
            $0.telehealthOpen(W.fresh, extra: ["note": .string("x")])
        },
        // join
        Row(description: "join by the patient", expected: .accepted) { $0.telehealthJoin(W.opened) },
        Row(description: "join by the patient's delegate", expected: .accepted) { $0.telehealthJoin(W.opened, by: W.guardian) },
        Row(description: "join by the wrong patient", expected: .notSessionPatient) { $0.telehealthJoin(W.opened, by: W.otherPatient) },
        Row(description: "join by the clinician", expected: .notSessionPatient) { $0.telehealthJoin(W.opened, by: H.doctor) },
        Row(description: "join twice", expected: .sessionAlreadyJoined) { $0.telehealthJoin(W.active) },
        Row(description: "join an ended session", expected: .sessionAlreadyEnded) { $0.telehealthJoin(W.ended) },
        Row(description: "join an unknown session", expected: .unknownSession) { $0.telehealthJoin(W.fresh) },
        // end
        Row(description: "end by the clinician", expected: .accepted) { $0.telehealthEnd(W.active) },
        Row(description: "end by the patient", expected: .accepted) { $0.telehealthEnd(W.active, by: H.patient) },
        Row(description: "end by the patient's delegate", expected: .accepted) { $0.telehealthEnd(W.active, by: W.guardian) },
        Row(description: "end with zero messages", expected: .accepted) { $0.telehealthEnd(W.active, messages: 0) },
        Row(description: "end a session never joined as a no-show", expected: .accepted) {
            $0.telehealthEnd(W.opened, transcript: .zero, messages: 0)
        },
        Row(description: "no-show with messages", expected: .noShowWithMessages) { $0.telehealthEnd(W.opened, transcript: .zero, messages: 3) },
        Row(description: "no-show with a transcript hash", expected: .noShowWithMessages) { $0.telehealthEnd(W.opened, messages: 0) },
        Row(description: "end a session never joined by the patient", expected: .sessionNotJoined) {
            $0.telehealthEnd(W.opened, by: H.patient, transcript: .zero, messages: 0)
        },
        Row(description: "end twice", expected: .sessionAlreadyEnded) { $0.telehealthEnd(W.ended) },
        Row(description: "end by another patient", expected: .notSessionParticipant) { $0.telehealthEnd(W.active, by: W.otherPatient) },
        Row(description: "end by another clinician", expected: .notSessionParticipant) { $0.telehealthEnd(W.active, by: W.clinicDoctor) },
        Row(description: "end by the clinician's organization", expected: .notSessionParticipant) { $0.telehealthEnd(W.active, by: H.hospital) },
        Row(description: "end with a transcript hash without consent to record", expected: .transcriptWithoutConsent) {
            $0.telehealthEnd(W.unrecorded)
        },
        Row(description: "end with an all-zero transcript hash without consent to record", expected: .accepted) {
            $0.telehealthEnd(W.unrecorded, transcript: .zero)
        },
        Row(description: "end before the start", expected: .badSessionTime) { $0.telehealthEnd(W.active, endMs: 999) },
        Row(description: "end over 5 minutes after the block time", expected: .badSessionTime) { $0.telehealthEnd(W.active, endMs: 400_000) },
        Row(description: "end with over 1,000,000 messages", expected: .badArguments) { $0.telehealthEnd(W.active, messages: 1_000_001) },
        Row(description: "end with a negative message count", expected: .badArguments) { $0.telehealthEnd(W.active, messages: -1) },
        Row(description: "end an unknown session", expected: .unknownSession) { $0.telehealthEnd(W.fresh) },
    ]

    @Test(arguments: rows)
    func rule(_ row: Row) { row.check(on: W.shared.h) }

    @Test func rowsAreDistinct() {
        #expect(Set(Self.rows.map(\.description)).count == Self.rows.count)
    }

    /// A session's lifecycle read back through `TelehealthContract.session`.
    @Test func lifecycleReadBack() throws {
        var h = W.shared.h
        let opened = try #require(TelehealthContract.session(W.opened, in: h.state))
        #expect(opened.status == .opened && opened.clinician == Harness.doctor.derivedID && opened.patient == Harness.patientID)
        #expect(opened.clinicianOrganization == Harness.hospital.derivedID && opened.consentToRecord && opened.startMs == 1_000)
        #expect(opened.keyCommitment == Hash256.sha256(W.opened.bytes + [0x4B]) && opened.joinedBy == nil && opened.endMs == nil)

        let joinedAt = h.runAccepted([h.telehealthJoin(W.opened, by: W.guardian)])
        let joined = try #require(TelehealthContract.session(W.opened, in: h.state))
        #expect(joined.status == .active && joined.joinedBy == W.guardian.derivedID && joined.joinedHeight == joinedAt)

        let endedAt = h.runAccepted([h.telehealthEnd(W.opened, by: Harness.patient, messages: 40, endMs: 1_020)])
        let ended = try #require(TelehealthContract.session(W.opened, in: h.state))
        #expect(ended.status == .ended && ended.endedBy == Harness.patientID && ended.endedHeight == endedAt)
        #expect(ended.transcriptHash == W.transcript && ended.messageCount == 40 && ended.endMs == 1_020 && ended.status.isFinal)

        let unrecorded = try #require(TelehealthContract.session(W.unrecorded, in: h.state))
        #expect(!unrecorded.consentToRecord && unrecorded.status == .active)
        #expect(TelehealthContract.session(W.fresh, in: h.state) == nil)
    }

    /// The clinician records a no-show for a session the patient never joined.
    @Test func noShow() throws {
        var h = W.shared.h
        h.runAccepted([h.telehealthEnd(W.opened, transcript: .zero, messages: 0, endMs: 1_000)])
        let session = try #require(TelehealthContract.session(W.opened, in: h.state))
        #expect(session.status == .noShow && session.endedBy == Harness.doctor.derivedID && session.messageCount == 0)
        #expect(h.run([h.telehealthJoin(W.opened)])[0].code == ResultCode.sessionAlreadyEnded.rawValue)
    }
}
