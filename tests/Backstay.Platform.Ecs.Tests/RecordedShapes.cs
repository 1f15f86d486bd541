namespace Backstay.Platform.Ecs.Tests;

/// <summary>
/// Answers in the shapes the AWS API references document for real services (values anonymised), for what moto
/// cannot show: unhealthy and draining targets, stopped tasks with their reasons, full task definitions, percentile
/// latency, rolling deployments.
/// </summary>
internal static class RecordedShapes
{
    public const string DescribeTargetHealth = """
        <DescribeTargetHealthResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">
          <DescribeTargetHealthResult>
            <TargetHealthDescriptions>
              <member>
                <HealthCheckPort>8080</HealthCheckPort>
                <TargetHealth><State>healthy</State></TargetHealth>
                <Target><Port>8080</Port><Id>10.0.1.23</Id><AvailabilityZone>eu-west-1a</AvailabilityZone></Target>
              </member>
              <member>
                <HealthCheckPort>8080</HealthCheckPort>
                <TargetHealth><State>initial</State><Reason>Elb.RegistrationInProgress</Reason><Description>Target registration is in progress</Description></TargetHealth>
                <Target><Port>8080</Port><Id>10.0.2.41</Id></Target>
              </member>
              <member>
                <HealthCheckPort>8080</HealthCheckPort>
                <TargetHealth><State>unhealthy</State><Reason>Target.ResponseCodeMismatch</Reason><Description>Health checks failed with these codes: [503]</Description></TargetHealth>
                <Target><Port>8080</Port><Id>10.0.1.77</Id></Target>
              </member>
              <member>
                <HealthCheckPort>8080</HealthCheckPort>
                <TargetHealth><State>draining</State><Reason>Target.DeregistrationInProgress</Reason><Description>Target deregistration is in progress</Description></TargetHealth>
                <Target><Port>8080</Port><Id>10.0.2.9</Id></Target>
              </member>
            </TargetHealthDescriptions>
          </DescribeTargetHealthResult>
          <ResponseMetadata><RequestId>c534f810-f389-11e5-9192-3fff33344cfa</RequestId></ResponseMetadata>
        </DescribeTargetHealthResponse>
        """;

    public const string DescribeTasksStopped = """
        {"failures":[],"tasks":[
          {"taskArn":"arn:aws:ecs:eu-west-1:123456789012:task/prod/0b69d5c0d7f94a3c9d3f6b7e0c2f2a11","taskDefinitionArn":"arn:aws:ecs:eu-west-1:123456789012:task-definition/hello:7",
           "lastStatus":"STOPPED","desiredStatus":"STOPPED","stopCode":"TaskFailedToStart","group":"service:hello","startedBy":"ecs-svc/1234567890123456789",
           "stoppedReason":"CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref 123456789012.dkr.ecr.eu-west-1.amazonaws.com/hello:v2: not found",
           "createdAt":1767225600.123,"stoppedAt":1767225660.5,
           "containers":[{"name":"web","lastStatus":"STOPPED","reason":"CannotPullContainerError: failed to resolve ref"}]},
          {"taskArn":"arn:aws:ecs:eu-west-1:123456789012:task/prod/5e1c0e2ab9a84f6f8a0f1c6f9f0b7d22","taskDefinitionArn":"arn:aws:ecs:eu-west-1:123456789012:task-definition/hello:7",
           "lastStatus":"STOPPED","desiredStatus":"STOPPED","stopCode":"EssentialContainerExited","group":"service:hello",
           "stoppedReason":"Essential container in task exited","createdAt":1767225700,"startedAt":1767225710,"stoppedAt":1767225720,
           "containers":[{"name":"web","lastStatus":"STOPPED","exitCode":137}]},
          {"taskArn":"arn:aws:ecs:eu-west-1:123456789012:task/prod/9a8b7c6d5e4f4a3b2c1d0e9f8a7b6c33","taskDefinitionArn":"arn:aws:ecs:eu-west-1:123456789012:task-definition/hello:6",
           "lastStatus":"STOPPED","desiredStatus":"STOPPED","stopCode":"ServiceSchedulerInitiated","stoppedReason":"Scaling activity initiated by deployment",
           "createdAt":1767220000,"stoppedAt":1767225000,"containers":[{"name":"web","lastStatus":"STOPPED","exitCode":0}]}
        ]}
        """;

    /// <summary>Running tasks of a service: what each container pulled (imageDigest), whatever its task definition's image says.</summary>
    public const string DescribeTasksRunning = """
        {"failures":[],"tasks":[
          {"taskArn":"arn:aws:ecs:eu-west-1:123456789012:task/prod/1c2d3e4f5a6b4c7d8e9f0a1b2c3d4e55","taskDefinitionArn":"arn:aws:ecs:eu-west-1:123456789012:task-definition/hello:6",
           "lastStatus":"RUNNING","desiredStatus":"RUNNING","group":"service:hello","startedBy":"ecs-svc/1234567890123456789","createdAt":1767225600,"startedAt":1767225610,
           "containers":[
             {"name":"log-router","image":"public.ecr.aws/aws-observability/aws-for-fluent-bit:stable","imageDigest":"sha256:0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a0908070605040302010f","lastStatus":"RUNNING"},
             {"name":"web","image":"123456789012.dkr.ecr.eu-west-1.amazonaws.com/hello:v1","imageDigest":"sha256:5c4e1e3a1c0f4d2b9e8a7f6d5c4b3a291817161514131211100f0e0d0c0b0a09","lastStatus":"RUNNING","healthStatus":"HEALTHY"}]}
        ]}
        """;

    public const string DescribeTaskDefinition = """
        {"taskDefinition":{
          "taskDefinitionArn":"arn:aws:ecs:eu-west-1:123456789012:task-definition/hello:6","family":"hello","revision":6,"status":"ACTIVE",
          "taskRoleArn":"arn:aws:iam::123456789012:role/hello-task","executionRoleArn":"arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
          "networkMode":"awsvpc","requiresCompatibilities":["FARGATE"],"compatibilities":["EC2","FARGATE"],"cpu":"512","memory":"1024",
          "runtimePlatform":{"cpuArchitecture":"ARM64","operatingSystemFamily":"LINUX"},
          "volumes":[{"name":"tmp","host":{}}],
          "requiresAttributes":[{"name":"com.amazonaws.ecs.capability.ecr-auth"}],
          "registeredAt":1767225600.0,"registeredBy":"arn:aws:sts::123456789012:assumed-role/ci/backstay",
          "containerDefinitions":[
            {"name":"web","image":"123456789012.dkr.ecr.eu-west-1.amazonaws.com/hello:v1","essential":true,"cpu":0,
             "portMappings":[{"containerPort":8080,"hostPort":8080,"protocol":"tcp","name":"http","appProtocol":"http"}],
             "environment":[{"name":"GREETING","value":"old"},{"name":"OLD_ONLY","value":"x"}],
             "secrets":[{"name":"DB_PASSWORD","valueFrom":"arn:aws:ssm:eu-west-1:123456789012:parameter/db"}],
             "logConfiguration":{"logDriver":"awslogs","options":{"awslogs-group":"/ecs/hello","awslogs-region":"eu-west-1","awslogs-stream-prefix":"web"}},
             "mountPoints":[{"sourceVolume":"tmp","containerPath":"/tmp"}]},
            {"name":"envoy","image":"public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29","essential":true}
          ]},
         "tags":[{"key":"team","value":"web"}]}
        """;

    public const string GetMetricData = """
        <GetMetricDataResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">
          <GetMetricDataResult>
            <MetricDataResults>
              <member><Id>requests</Id><Label>RequestCount</Label><StatusCode>Complete</StatusCode>
                <Timestamps><member>2026-01-01T12:01:00Z</member><member>2026-01-01T12:00:00Z</member></Timestamps>
                <Values><member>1200.0</member><member>800.0</member></Values></member>
              <member><Id>errors</Id><Label>HTTPCode_Target_5XX_Count</Label><StatusCode>Complete</StatusCode>
                <Timestamps><member>2026-01-01T12:01:00Z</member><member>2026-01-01T12:00:00Z</member></Timestamps>
                <Values><member>30.0</member><member>6.0</member></Values></member>
              <member><Id>p50</Id><StatusCode>Complete</StatusCode><Timestamps/><Values/></member>
              <member><Id>p90</Id><StatusCode>Complete</StatusCode>
                <Timestamps><member>2026-01-01T12:01:00Z</member></Timestamps><Values><member>0.120</member></Values></member>
              <member><Id>p99</Id><StatusCode>Complete</StatusCode>
                <Timestamps><member>2026-01-01T12:01:00Z</member><member>2026-01-01T12:00:00Z</member></Timestamps>
                <Values><member>0.350</member><member>0.410</member></Values></member>
            </MetricDataResults>
            <Messages/>
          </GetMetricDataResult>
          <ResponseMetadata><RequestId>f1b2c3d4-0000-4000-8000-000000000000</RequestId></ResponseMetadata>
        </GetMetricDataResponse>
        """;

    public const string DescribeListenersWithAuthentication = """
        <DescribeListenersResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">
          <DescribeListenersResult>
            <Listeners>
              <member>
                <LoadBalancerArn>arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188</LoadBalancerArn>
                <Protocol>HTTPS</Protocol><Port>443</Port>
                <ListenerArn>arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2</ListenerArn>
                <DefaultActions>
                  <member>
                    <Type>authenticate-oidc</Type><Order>1</Order>
                    <AuthenticateOidcConfig>
                      <Issuer>https://idp.example.com</Issuer><ClientId>backstay</ClientId>
                      <AuthorizationEndpoint>https://idp.example.com/authorize</AuthorizationEndpoint>
                      <AuthenticationRequestExtraParams><entry><key>display</key><value>page</value></entry></AuthenticationRequestExtraParams>
                      <Scope>openid</Scope>
                    </AuthenticateOidcConfig>
                  </member>
                  <member>
                    <Type>forward</Type><Order>2</Order>
                    <TargetGroupArn>arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/hello-blue/73e2d6bc24d8a067</TargetGroupArn>
                    <ForwardConfig>
                      <TargetGroups><member><TargetGroupArn>arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/hello-blue/73e2d6bc24d8a067</TargetGroupArn><Weight>1</Weight></member></TargetGroups>
                      <TargetGroupStickinessConfig><Enabled>true</Enabled><DurationSeconds>300</DurationSeconds></TargetGroupStickinessConfig>
                    </ForwardConfig>
                  </member>
                </DefaultActions>
              </member>
            </Listeners>
          </DescribeListenersResult>
        </DescribeListenersResponse>
        """;

    /// <summary>A service on the ECS (rolling) controller whose deployment the circuit breaker failed.</summary>
    public const string DescribeServicesRollingFailed = """
        {"failures":[],"services":[{
          "serviceArn":"arn:aws:ecs:eu-west-1:123456789012:service/prod/hello","serviceName":"hello","clusterArn":"arn:aws:ecs:eu-west-1:123456789012:cluster/prod",
          "status":"ACTIVE","desiredCount":3,"runningCount":3,"pendingCount":0,"launchType":"FARGATE",
          "taskDefinition":"arn:aws:ecs:eu-west-1:123456789012:task-definition/hello:6",
          "deploymentController":{"type":"ECS"},
          "deploymentConfiguration":{"deploymentCircuitBreaker":{"enable":true,"rollback":true},"maximumPercent":200,"minimumHealthyPercent":100},
          "deployments":[
            {"id":"ecs-svc/7373547183949474729","status":"PRIMARY","taskDefinition":"arn:aws:ecs:eu-west-1:123456789012:task-definition/hello:7",
             "desiredCount":3,"pendingCount":0,"runningCount":0,"failedTasks":10,"rolloutState":"FAILED",
             "rolloutStateReason":"ECS deployment circuit breaker: tasks failed to start.","createdAt":1767225600.0,"updatedAt":1767226200.0},
            {"id":"ecs-svc/1908272741922958812","status":"ACTIVE","taskDefinition":"arn:aws:ecs:eu-west-1:123456789012:task-definition/hello:6",
             "desiredCount":3,"pendingCount":0,"runningCount":3,"failedTasks":0,"rolloutState":"COMPLETED","rolloutStateReason":"ECS deployment ecs-svc/1908272741922958812 completed."}
          ],
          "events":[{"id":"e1","createdAt":1767226200.0,"message":"(service hello) (deployment ecs-svc/7373547183949474729) deployment failed: tasks failed to start."}],
          "createdAt":1735689600.0}]}
        """;

    /// <summary>The same service after the circuit breaker rolled the failed deployment back to the previous task definition.</summary>
    public const string DescribeServicesRolledBackByCircuitBreaker = """
        {"failures":[],"services":[{
          "serviceArn":"arn:aws:ecs:eu-west-1:123456789012:service/prod/hello","serviceName":"hello","status":"ACTIVE","desiredCount":3,"runningCount":3,
          "taskDefinition":"arn:aws:ecs:eu-west-1:123456789012:task-definition/hello:6","deploymentController":{"type":"ECS"},
          "deployments":[
            {"id":"ecs-svc/5550001112223334445","status":"PRIMARY","taskDefinition":"arn:aws:ecs:eu-west-1:123456789012:task-definition/hello:6",
             "desiredCount":3,"pendingCount":0,"runningCount":3,"failedTasks":0,"rolloutState":"IN_PROGRESS","rolloutStateReason":"ECS deployment ecs-svc/5550001112223334445 in progress."}
          ],
          "events":[
            {"id":"e3","createdAt":1767226260.0,"message":"(service hello) rolling back to deployment ecs-svc/5550001112223334445."},
            {"id":"e2","createdAt":1767226200.0,"message":"(service hello) (deployment ecs-svc/7373547183949474729) deployment failed: tasks failed to start."},
            {"id":"e1","createdAt":1767225900.0,"message":"(service hello) has started 3 tasks: (task 1) (task 2) (task 3)."}
          ]}]}
        """;

    /// <summary>A rolling deployment that finished.</summary>
    public const string DescribeServicesRollingCompleted = """
        {"failures":[],"services":[{
          "serviceArn":"arn:aws:ecs:eu-west-1:123456789012:service/prod/hello","serviceName":"hello","status":"ACTIVE","desiredCount":3,"runningCount":3,
          "deploymentController":{"type":"ECS"},
          "deployments":[
            {"id":"ecs-svc/7373547183949474729","status":"PRIMARY","taskDefinition":"arn:aws:ecs:eu-west-1:123456789012:task-definition/hello:7",
             "desiredCount":3,"pendingCount":0,"runningCount":3,"failedTasks":1,"rolloutState":"COMPLETED","rolloutStateReason":"ECS deployment ecs-svc/7373547183949474729 completed."}
          ],
          "events":[{"id":"e1","createdAt":1767226200.0,"message":"(service hello) (deployment ecs-svc/7373547183949474729) deployment completed."}]}]}
        """;
}
