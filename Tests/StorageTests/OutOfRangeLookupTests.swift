import Foundation
import LedgerCore
import Storage
import Testing
import Vault

/// Found by schemathesis (2026-12-05): SQLite integers are signed, and `Int64(value)` of a height,
/// log index, audit index or version past Int64.max trapped — one authenticated request
/// (`GET /v1/blocks/9223372036854775808`) stopped the node. Such a value names no row.
@Suite("Stores: a height, index or version past Int64.max is a miss, not a trap")
struct OutOfRangeLookupTests {
    static let huge: [UInt64] = [UInt64(Int64.max) + 1, .max]

    @Test(arguments: LedgerStoreKind.allCases)
    func ledgerLookups(_ kind: LedgerStoreKind) throws {
        let (store, _, cleanup) = try kind.make()
        defer { cleanup() }
        for value in Self.huge {
            #expect(try store.header(height: value) == nil)
            #expect(try store.rawBlock(height: value) == nil)
            #expect(try store.transactionBytes(logIndex: value) == nil)
        }
    }

    @Test(arguments: VaultStoreKind.allCases)
    func vaultLookups(_ kind: VaultStoreKind) throws {
        let (vault, cleanup) = try kind.make()
        defer { cleanup() }
        let patient = VaultStoreTests.patient.derivedID
        for value in Self.huge {
            #expect(try vault.auditEntries(patient: patient, after: value, limit: 10).isEmpty)
            #expect(try vault.auditEntries(patient: patient, before: value, limit: 10).isEmpty)
            #expect(try vault.auditEntry(value) == nil)
            #expect(try vault.wrappedKey(record: VaultStoreTests.record, version: value, recipient: patient) == nil)
            #expect(try vault.sealedVersion(blob: VaultStoreTests.record, record: VaultStoreTests.record, version: value) == nil)
        }
    }
}
