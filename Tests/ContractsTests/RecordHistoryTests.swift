import Contracts
import LedgerCore
import Testing

@Suite("Record history")
struct RecordHistoryTests {
    static let record = Hash256.sha256([0xD1])

    @Test func versionsStayInHistoryAfterErasure() throws {
        var h = Harness.standard()
        var heights: [UInt64] = []
        for version in Int64(1)...3 {
            heights.append(h.runAccepted([h.putRecord(Self.record, "Observation", "general", by: Harness.doctor, version: version)]))
        }
        let history = RecordIndex.history(Self.record, in: h.state)
        #expect(history.map(\.version) == [1, 2, 3])
        #expect(history.map(\.ciphertextHash) == (Int64(1)...3).map { Harness.ciphertext(Self.record, $0) })
        #expect(Set(history.map(\.ciphertextHash)).count == 3)
        #expect(history.map(\.height) == heights)
        #expect(history.map(\.timeMs) == heights.map { 1_000 + Int64($0) })
        #expect(history.allSatisfy { $0.patient == Harness.patientID && $0.custodian == Harness.hospital.derivedID && !$0.isErased })
        #expect(RecordIndex.current(Self.record, in: h.state) == history.last)
        #expect(h.state.value(for: RecordIndex.patientPrefix(Harness.patientID) + Self.record.hex) != nil)

        let erasedAt = h.runAccepted([h.eraseRecord(Self.record, by: Harness.patient)])
        let current = try #require(RecordIndex.current(Self.record, in: h.state))
        #expect(current.erasedHeight == erasedAt && current.erasedBy == Harness.patientID && current.isErased)
        #expect(current.version == 3 && current.ciphertextHash == Harness.ciphertext(Self.record, 3))
        // Erasure is recorded on the current entry only; every version stays in history as registered.
        let after = RecordIndex.history(Self.record, in: h.state)
        #expect(after == history)
        #expect(after.allSatisfy { !$0.isErased })
        #expect(RecordIndex.version(Self.record, 4, in: h.state) == nil)
        #expect(RecordIndex.history(Hash256.sha256([0xD2]), in: h.state).isEmpty)
    }
}
