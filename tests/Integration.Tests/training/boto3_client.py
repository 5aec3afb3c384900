"""The local training service driven by boto3, the AWS SDK for Python: a SageMaker client nobody here wrote.

Environment: SM_ENDPOINT, SM_ACCESS_KEY, SM_SECRET_KEY, JOB_NAME, TRAIN_URI, OUTPUT_PATH, IMAGE. Checks every answer itself,
prints one line per check, and exits 1 on the first that fails.
"""
import os
import sys
import time

import boto3
import botocore.config
import botocore.exceptions


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what, flush=True)
    if not condition:
        sys.exit(1)


env = os.environ
sm = boto3.client("sagemaker", endpoint_url=env["SM_ENDPOINT"], region_name="us-east-1",
                  aws_access_key_id=env["SM_ACCESS_KEY"], aws_secret_access_key=env["SM_SECRET_KEY"])
name = env["JOB_NAME"]
created = sm.create_training_job(
    TrainingJobName=name,
    AlgorithmSpecification={"TrainingImage": env["IMAGE"], "TrainingInputMode": "File",
                            "MetricDefinitions": [{"Name": "loss", "Regex": "metric loss=([0-9.]+)"}]},
    RoleArn="arn:aws:iam::000000000000:role/boto3",
    InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv",
                      "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": env["TRAIN_URI"],
                                                      "S3DataDistributionType": "FullyReplicated"}}}],
    OutputDataConfig={"S3OutputPath": env["OUTPUT_PATH"]},
    ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
    StoppingCondition={"MaxRuntimeInSeconds": 120},
    HyperParameters={"loss": "0.375"})
check(created["TrainingJobArn"].endswith("training-job/" + name.lower()), "create_training_job answers the job's ARN")

deadline = time.time() + 90
while True:
    job = sm.describe_training_job(TrainingJobName=name)
    if job["TrainingJobStatus"] in ("Completed", "Failed", "Stopped") or time.time() > deadline:
        break
    time.sleep(0.2)
check(job["TrainingJobStatus"] == "Completed", f"the job completed ({job['TrainingJobStatus']}: {job.get('FailureReason')})")
check([m["MetricName"] for m in job["FinalMetricDataList"]] == ["loss"] and job["FinalMetricDataList"][0]["Value"] == 0.375,
      "FinalMetricDataList has the final loss")
check(job["TrainingEndTime"] >= job["TrainingStartTime"] >= job["CreationTime"], "timestamps parse as datetimes, in order")
check([t["Status"] for t in job["SecondaryStatusTransitions"]] == ["Starting", "Downloading", "Training", "Uploading", "Completed"],
      "secondary status transitions")
check(job["ModelArtifacts"]["S3ModelArtifacts"].endswith(f"/{name}/output/model.tar.gz"), "model artifacts under S3OutputPath/<job>/output/")

listed = sm.list_training_jobs(NameContains=name, SortBy="CreationTime", SortOrder="Descending")
check([s["TrainingJobName"] for s in listed["TrainingJobSummaries"]] == [name], "list_training_jobs finds the job by name")
paginator = sm.get_paginator("list_training_jobs")
check(sum(len(p["TrainingJobSummaries"]) for p in paginator.paginate(NameContains=name, PaginationConfig={"PageSize": 1})) == 1,
      "the paginator follows NextToken")

for call, code in [(lambda: sm.describe_training_job(TrainingJobName=name + "-none"), "ResourceNotFound"),
                   (lambda: sm.stop_training_job(TrainingJobName=name), "ValidationException")]:
    try:
        call()
        check(False, f"{code} expected")
    except botocore.exceptions.ClientError as e:
        check(e.response["Error"]["Code"] == code and e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, f"{code} as botocore reads it")

try:
    sm.create_training_job(TrainingJobName=name, AlgorithmSpecification={"TrainingInputMode": "File"},
                           RoleArn="arn:aws:iam::000000000000:role/boto3",
                           OutputDataConfig={"S3OutputPath": "s3://b"}, ResourceConfig={"InstanceType": "ml.m5.large",
                           "InstanceCount": 1, "VolumeSizeInGB": 1}, StoppingCondition={"MaxRuntimeInSeconds": 1})
    check(False, "a create without TrainingImage is refused")
except botocore.exceptions.ClientError as e:
    check(e.response["Error"]["Code"] == "ValidationException", "a create without TrainingImage is a ValidationException")

wrong = boto3.client("sagemaker", endpoint_url=env["SM_ENDPOINT"], region_name="us-east-1",
                     aws_access_key_id=env["SM_ACCESS_KEY"], aws_secret_access_key="not-the-secret",
                     config=botocore.config.Config(retries={"max_attempts": 1}))
try:
    wrong.list_training_jobs()
    check(False, "a wrong secret is refused")
except botocore.exceptions.ClientError as e:
    check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 403 and e.response["Error"]["Code"] == "InvalidSignatureException",
          "a wrong secret is a 403 InvalidSignatureException")
print("all checks passed")
