import Memory
import Testing

@Suite struct NUMATopologyTests {
  @Test func reportsAtLeastOneNode() {
    #expect(NUMATopology.nodeCount >= 1)
    if !NUMATopology.isAvailable { #expect(NUMATopology.nodeCount == 1) }
    if let node = NUMATopology.currentNode { #expect(node >= 0 && node < NUMATopology.nodeCount) }
  }
}
