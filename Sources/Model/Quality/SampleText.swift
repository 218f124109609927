/// Built-in text for quality checks that must run anywhere without a data file (`convert`'s perplexity check):
/// plain English prose of everyday subjects, about 450 tokens for a Llama-family tokenizer. Written for EdgeTune.
public enum SampleText {
  public static let english = """
    The market in the old town opens before sunrise. Farmers arrive in small trucks and unload crates of apples, \
    potatoes and onions onto wooden tables, while the baker across the square pulls the first loaves from the oven. \
    By seven o'clock the smell of bread and coffee fills the narrow streets, and the first customers walk slowly \
    between the stalls, comparing prices and asking where the cheese was made.

    Most of the sellers have known each other for years. They lend each other change, watch each other's tables \
    when someone needs a break, and argue cheerfully about the weather, which is the one subject every farmer \
    considers himself an expert on. When it rains, they stretch blue plastic sheets over the tables and carry on as \
    if nothing had happened.

    A river runs along the eastern edge of the town. In summer, children swim near the stone bridge, and older \
    people sit on the benches in the shade of the chestnut trees, reading newspapers or feeding the ducks. In \
    winter the water rises, and twice in the last century it flooded the lower streets. The town built a long wall \
    after the second flood, and a small plaque on the wall records the height the water reached.

    The library is the oldest public building still in use. It was a grain store until the railway came, and the \
    thick walls keep it cool even in August. Inside, there are long tables, green lamps and a map of the region \
    drawn by hand more than two hundred years ago. Students come in the afternoon to study for their exams, and in \
    the evening a reading group meets in the back room to discuss a different book every month.

    Visitors often ask what there is to do in a place so small. The honest answer is: not very much, and that is \
    the point. People come to walk in the hills, to eat well, to sleep without traffic outside the window, and to \
    remember that a day can be long and quiet without being empty. Many of them return the following year, and a \
    few never leave at all.
    """
}
