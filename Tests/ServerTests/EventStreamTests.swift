import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// `GET /v1/events` (issue 16): a server-sent event stream of what the identity may see, as it
/// happens — transactions it may read, access-log entries it may read — resumable with
/// `Last-Event-ID`, and silent about what the identity may not see.
@Suite("Event stream: /v1/events", .serialized)
struct EventStreamTests {
    /// The events of a body: (id, kind, data as JSON).
    static func events(_ body: String) -> [(id: String, kind: String, data: [String: Any])] {
        body.components(separatedBy: "\n\n").compactMap { block in
            var id = "", kind = "", data = ""
            for line in block.split(separator: "\n") {
                if line.hasPrefix("id: ") { id = String(line.dropFirst(4)) }
                if line.hasPrefix("event: ") { kind = String(line.dropFirst(7)) }
                if line.hasPrefix("data: ") { data = String(line.dropFirst(6)) }
            }
            guard !kind.isEmpty, let object = try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any] else { return nil }
            return (id, kind, object)
        }
    }

    static func stream(_ client: some TestClientProtocol, _ bearer: String, _ query: String, lastEventID: String? = nil) async throws -> (HTTPResponse.Status, String) {
        var headers: HTTPFields = [.authorization: "Bearer \(bearer)"]
        if let lastEventID { headers[HTTPField.Name("Last-Event-ID")!] = lastEventID }
        return try await client.execute(uri: "/v1/events?\(query)", method: .get, headers: headers) { response in
            (response.status, String(buffer: response.body))
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func eventsArriveAsTheyHappenFilteredAndResumable() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let hospital = try await token(client, for: fixture.hospital)
            let clinic = try await token(client, for: fixture.clinicDoctor)
            let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
            let outsider = FHIRClient(client: client, bearer: clinic)

            // The hospital (the custodian organization: its patients' access logs are its to read)
            // listens; the clinic's clinician listens too, for three seconds.
            // Four events: the Patient's and the Observation's registrations, a permitted and a refused read.
            async let watched = Self.stream(client, hospital, "max_events=4&seconds=120")
            async let clinicWatched = Self.stream(client, clinic, "seconds=3")
            try await Task.sleep(for: .milliseconds(300))
            let patient = try await doctor.create(["resourceType": "Patient", "name": [["family": "Nakamura"]]])
            #expect(try await doctor.call(.get, "/fhir/Patient/\(patient)").status == .ok)
            #expect(try await outsider.call(.get, "/fhir/Patient/\(patient)").status == .notFound)
            _ = try await doctor.create(["resourceType": "Observation", "status": "final", "code": ["text": "x"],
                                         "subject": ["reference": "Patient/\(patient)"]])
            let (status, body) = try await watched
            #expect(status == .ok)
            let events = Self.events(body)
            #expect(events.count == 4, "\(body)")
            let kinds = Set(events.map(\.kind))
            #expect(kinds == ["transaction", "access"], "\(body)")
            let access = events.filter { $0.kind == "access" }.map(\.data)
            #expect(access.contains { $0["outcome"] as? String == "permit" }, "the doctor's read: \(access)")
            #expect(access.contains { $0["outcome"] as? String == "deny" }, "the clinic's refused read: \(access)")
            #expect(events.filter { $0.kind == "transaction" }.allSatisfy { $0.data["redacted"] == nil && $0.data["method"] != nil })
            // Positions only grow.
            let positions = events.compactMap { event -> [UInt64]? in
                let parts = event.id.split(separator: ".").compactMap { UInt64($0) }
                return parts.count == 2 ? parts : nil
            }
            #expect(positions.count == events.count && zip(positions, positions.dropFirst()).allSatisfy { $0[0] <= $1[0] && $0[1] <= $1[1] })

            // Resuming after the first event replays what followed it (the two kinds may interleave
            // otherwise: each event is named by its log or audit index).
            func key(_ event: (id: String, kind: String, data: [String: Any])) -> String {
                "\(event.kind) \(event.data["log_index"] as? Int ?? -1) \(event.data["index"] as? Int ?? -1)"
            }
            let (_, replay) = try await Self.stream(client, hospital, "max_events=\(events.count - 1)&seconds=10", lastEventID: events[0].id)
            #expect(Set(Self.events(replay).map(key)) == Set(events.dropFirst().map(key)), "\(replay)")

            // The clinic's clinician saw nothing of the hospital's patient: not the transactions
            // (not theirs to read), not the access log (not theirs), not even their own refusal.
            let (clinicStatus, clinicBody) = try await clinicWatched
            #expect(clinicStatus == .ok)
            #expect(Self.events(clinicBody).isEmpty, "\(clinicBody)")
            #expect(clinicBody.hasPrefix("retry: 2000"))
            // Bad bounds are refused.
            #expect(try await Self.stream(client, hospital, "max_events=0").0 == .badRequest)
            #expect(try await Self.stream(client, hospital, "seconds=100000").0 == .badRequest)
        } }
    }
}
