import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

/// Security review finding 10, the vault half: `vault.sqlite` held birth date and gender readable
/// next to the pseudonym. Now neither is written readable anywhere in the node's files, and
/// `birthdate` and `gender` search (eq, ranges, `:missing`, `:not`, chains) and `_sort=birthdate` still work.
/// (Converting a vault of an earlier release: `QuasiIdentifierMigrationTests`.)
@Suite("Security finding 10: no readable birth date or gender at rest", .serialized)
struct QuasiIdentifierFindingTests {
    @Test(.timeLimit(.minutes(3)))
    func birthDateAndGenderAreSearchableButNotStoredReadable() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
            var first = FHIRServerTests.patient
            first["birthDate"] = "1974-12-25"
            first["gender"] = "female"
            let created = try await doctor.call(.post, "/fhir/Patient", first)
            #expect(created.status == .created, "\(created.json)")
            var second = FHIRServerTests.patient
            second["birthDate"] = "1981-03-02"
            second["gender"] = "male"
            second["identifier"] = [["system": "urn:test:mrn", "value": "MRN-5151"]]
            #expect(try await doctor.call(.post, "/fhir/Patient", second).status == .created)

            // Nothing in the node's files spells the birth date.
            let files = try FileManager.default.contentsOfDirectory(at: fixture.directory, includingPropertiesForKeys: nil)
            #expect(files.contains { $0.lastPathComponent.hasPrefix("vault.sqlite") })
            for file in files {
                let bytes = try Data(contentsOf: file)
                for text in ["1974-12-25", "1974-12", "1981-03-02"] {
                    #expect(bytes.range(of: Data(text.utf8)) == nil, "\(file.lastPathComponent) holds \(text)")
                }
            }

            func total(_ query: String) async throws -> Int? {
                let found = try await doctor.call(.get, "/fhir/\(query)")
                #expect(found.status == .ok, "\(query): \(found.json)")
                return found.json["total"] as? Int
            }
            let expectations: [(String, Int)] = [
                ("Patient?birthdate=1974-12-25", 1), ("Patient?birthdate=1974", 1), ("Patient?birthdate=1974-12", 1),
                ("Patient?birthdate=lt1974-12-25", 0), ("Patient?birthdate=le1974-12-25", 1), ("Patient?birthdate=gt1974-12-25", 1),
                ("Patient?birthdate=ge1975&birthdate=lt1990", 1), ("Patient?birthdate=1974,1981", 2), ("Patient?birthdate:missing=false", 2),
                ("Patient?gender=female", 1), ("Patient?gender=male", 1), ("Patient?gender:not=female", 1), ("Patient?gender=fem", 0),
            ]
            for (query, expected) in expectations {
                #expect(try await total(query) == expected, "\(query)")
            }
            let sorted = try await doctor.call(.get, "/fhir/Patient?_sort=-birthdate")
            let births = (sorted.json["entry"] as? [[String: Any]] ?? []).compactMap { ($0["resource"] as? [String: Any])?["birthDate"] as? String }
            #expect(births == ["1981-03-02", "1974-12-25"], "\(sorted.json)")
        } }
    }
}
