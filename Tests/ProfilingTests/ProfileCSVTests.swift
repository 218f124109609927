import Memory
import Testing

@testable import Profiling

@Suite struct ProfileCSVTests {
  /// Splits CSV into records of fields, honouring RFC 4180 quotes (a quoted field may hold commas, quotes, newlines).
  static func parse(_ csv: String) -> [[String]] {
    var records: [[String]] = []
    var record: [String] = []
    var field = ""
    var quoted = false
    var iterator = csv.makeIterator()
    while let character = iterator.next() {
      if quoted {
        if character == "\"" {
          if let next = iterator.next() {
            if next == "\"" {
              field.append("\"")
              continue
            }
            quoted = false
            if next == "," {
              record.append(field)
              field = ""
            } else if next == "\n" {
              record.append(field)
              records.append(record)
              (record, field) = ([], "")
            } else {
              field.append(next)
            }
          } else {
            quoted = false
          }
        } else {
          field.append(character)
        }
      } else if character == "\"" && field.isEmpty {
        quoted = true
      } else if character == "," {
        record.append(field)
        field = ""
      } else if character == "\n" {
        record.append(field)
        records.append(record)
        (record, field) = ([], "")
      } else {
        field.append(character)
      }
    }
    if !field.isEmpty || !record.isEmpty { records.append(record + [field]) }
    return records
  }

  @Test func headerHasFixedColumnsThenSortedLabelUnion() {
    let samples = [
      SyntheticProfile.sample(0, "load", rss: 10, anon: 4, file: 6, ledger: ["weights": 5]),
      SyntheticProfile.sample(0.5, "forward", rss: 20, anon: 12, file: 8, ledger: ["weights": 5, "activations": 7]),
      SyntheticProfile.sample(1.25, "backward", rss: 30, anon: 22, file: 8, ledger: ["gradients": 3]),
    ]
    let lines = ProfileCSV.render(samples).split(separator: "\n", omittingEmptySubsequences: false)
    #expect(
      lines[0]
        == "seconds,phase,rss_bytes,rss_anon_bytes,rss_file_bytes,hwm_bytes,ledger_bytes,"
        + "ledger:activations,ledger:gradients,ledger:weights")
    #expect(lines[1] == "0.0,load,10,4,6,10,5,0,0,5")
    #expect(lines[2] == "0.5,forward,20,12,8,20,12,7,0,5")
    #expect(lines[3] == "1.25,backward,30,22,8,30,3,0,3,0")
    #expect(lines.count == 5 && lines[4].isEmpty)
  }

  @Test func oneRowPerSampleWithEveryColumn() {
    let document = SyntheticProfile.loraRun()
    let records = Self.parse(ProfileCSV.render(document.samples))
    let labels = Set(document.samples.flatMap(\.ledgerByLabel.keys)).sorted()
    #expect(records.count == document.samples.count + 1)
    #expect(records[0].count == 7 + labels.count)
    #expect(Array(records[0].suffix(labels.count)) == labels.map { "ledger:" + $0 })
    for (record, sample) in zip(records.dropFirst(), document.samples) {
      #expect(record.count == records[0].count)
      #expect(Double(record[0]) == sample.seconds && record[1] == sample.phase && Int(record[2]) == sample.rss)
      // The label columns add up to the ledger column here (the builder's ledger is their sum).
      #expect(record.suffix(labels.count).compactMap { Int($0) }.reduce(0, +) == sample.ledger)
    }
  }

  @Test func quotesFieldsThatNeedIt() {
    let awkward = "say \"hi\", then\nleave"
    let samples = [
      SyntheticProfile.sample(1, awkward, rss: 1, anon: 1, file: 0, ledger: ["a,b": 1, "plain": 2, "q\"": 3])
    ]
    let csv = ProfileCSV.render(samples)
    #expect(csv.contains(",\"ledger:a,b\",ledger:plain,\"ledger:q\"\"\"\n"))
    #expect(csv.contains("1.0,\"say \"\"hi\"\", then\nleave\",1,"))
    let records = Self.parse(csv)
    #expect(records.count == 2)
    #expect(records[1][1] == awkward)
    #expect(records[0].suffix(3) == ["ledger:a,b", "ledger:plain", "ledger:q\""])
    #expect(records[1].suffix(3) == ["1", "2", "3"])
    #expect(ProfileCSV.quoted("plain") == "plain")
    #expect(ProfileCSV.quoted("") == "")
  }

  @Test func noSamplesIsJustTheHeader() {
    #expect(
      ProfileCSV.render([]) == "seconds,phase,rss_bytes,rss_anon_bytes,rss_file_bytes,hwm_bytes,ledger_bytes\n")
  }

  @Test func nonFiniteSecondsAreLeftEmpty() {
    let samples = [SyntheticProfile.sample(.nan, "load", rss: 1, anon: 1, file: 0, ledger: [:])]
    #expect(ProfileCSV.render(samples).hasSuffix("\n,load,1,1,0,1,0\n"))
  }
}
