"""The article's algorithm ("AWS Lambda And Multi Threading Using Python") as a Lambda handler,
the whole-process benchmark's Python peer (bench/run runs it under awslambdaric).

One task per item on a ThreadPoolExecutor(max_workers=4), results taken with as_completed and
put back in place by index, then counted. The article reads `item.frequency`; events carry
items as JSON objects, so the port reads `item["frequency"]`. Nothing else is changed.
"""

from concurrent.futures import ThreadPoolExecutor, as_completed

THRESHOLD = 10


# task that is performed in parallel
def task(item, index):
    if item["frequency"] > THRESHOLD:
        return True, index
    else:
        return False, index


# multi-threading function
def count_high_frequency_items(list_of_items):
    if len(list_of_items) == 0:
        return 0
    all_tasks = []
    with ThreadPoolExecutor(max_workers=4) as executor:
        for item_index in range(len(list_of_items)):
            all_tasks.append(executor.submit(task, list_of_items[item_index], item_index))
        temp_res = list(range(len(list_of_items)))
        # process completed tasks
        for future in as_completed(all_tasks):
            too_frequent, index = future.result()
            temp_res[index] = too_frequent
    count = 0
    for is_frequent in temp_res:
        if is_frequent:
            count += 1
    return count


def handler(event, context):
    """Lambda entry point for `{"items": [...]}` events."""
    items = event["items"]
    return {
        "high_frequency_count": count_high_frequency_items(items),
        "total_items": len(items),
    }
