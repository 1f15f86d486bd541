namespace Backstay.Platform.Ecs.Aws.Ecs;

/// <summary>The ECS operations Backstay calls (JSON 1.1, target prefix AmazonEC2ContainerServiceV20141113).</summary>
internal sealed class EcsClient(JsonServiceClient json)
{
    public JsonServiceClient Raw => json;

    public Task<DescribeServicesResponse> DescribeServicesAsync(DescribeServicesRequest request, CancellationToken cancellationToken) =>
        json.CallAsync<DescribeServicesRequest, DescribeServicesResponse>("DescribeServices", request, cancellationToken);

    public Task<ServiceResponse> CreateServiceAsync(CreateServiceRequest request, CancellationToken cancellationToken) =>
        json.CallAsync<CreateServiceRequest, ServiceResponse>("CreateService", request, cancellationToken);

    public Task<ServiceResponse> UpdateServiceAsync(UpdateServiceRequest request, CancellationToken cancellationToken) =>
        json.CallAsync<UpdateServiceRequest, ServiceResponse>("UpdateService", request, cancellationToken);

    public Task<ServiceResponse> DeleteServiceAsync(DeleteServiceRequest request, CancellationToken cancellationToken) =>
        json.CallAsync<DeleteServiceRequest, ServiceResponse>("DeleteService", request, cancellationToken);

    public Task<DescribeTaskSetsResponse> DescribeTaskSetsAsync(DescribeTaskSetsRequest request, CancellationToken cancellationToken) =>
        json.CallAsync<DescribeTaskSetsRequest, DescribeTaskSetsResponse>("DescribeTaskSets", request, cancellationToken);

    public Task<TaskSetResponse> CreateTaskSetAsync(CreateTaskSetRequest request, CancellationToken cancellationToken) =>
        json.CallAsync<CreateTaskSetRequest, TaskSetResponse>("CreateTaskSet", request, cancellationToken);

    public Task<TaskSetResponse> UpdateTaskSetAsync(UpdateTaskSetRequest request, CancellationToken cancellationToken) =>
        json.CallAsync<UpdateTaskSetRequest, TaskSetResponse>("UpdateTaskSet", request, cancellationToken);

    public Task<TaskSetResponse> DeleteTaskSetAsync(DeleteTaskSetRequest request, CancellationToken cancellationToken) =>
        json.CallAsync<DeleteTaskSetRequest, TaskSetResponse>("DeleteTaskSet", request, cancellationToken);

    public Task<TaskSetResponse> UpdateServicePrimaryTaskSetAsync(UpdateServicePrimaryTaskSetRequest request, CancellationToken cancellationToken) =>
        json.CallAsync<UpdateServicePrimaryTaskSetRequest, TaskSetResponse>("UpdateServicePrimaryTaskSet", request, cancellationToken);

    public Task<TaskDefinitionResponse> RegisterTaskDefinitionAsync(RegisterTaskDefinitionRequest request, CancellationToken cancellationToken) =>
        json.CallAsync<RegisterTaskDefinitionRequest, TaskDefinitionResponse>("RegisterTaskDefinition", request, cancellationToken);

    public Task<TaskDefinitionResponse> DeregisterTaskDefinitionAsync(DeregisterTaskDefinitionRequest request, CancellationToken cancellationToken) =>
        json.CallAsync<DeregisterTaskDefinitionRequest, TaskDefinitionResponse>("DeregisterTaskDefinition", request, cancellationToken);

    public Task<TaskDefinitionResponse> DescribeTaskDefinitionAsync(DescribeTaskDefinitionRequest request, CancellationToken cancellationToken) =>
        json.CallAsync<DescribeTaskDefinitionRequest, TaskDefinitionResponse>("DescribeTaskDefinition", request, cancellationToken);

    public Task<ListTaskDefinitionsResponse> ListTaskDefinitionsAsync(ListTaskDefinitionsRequest request, CancellationToken cancellationToken) =>
        json.CallAsync<ListTaskDefinitionsRequest, ListTaskDefinitionsResponse>("ListTaskDefinitions", request, cancellationToken);

    public Task<EmptyResponse> TagResourceAsync(TagResourceRequest request, CancellationToken cancellationToken) =>
        json.CallAsync<TagResourceRequest, EmptyResponse>("TagResource", request, cancellationToken);

    public Task<EmptyResponse> UntagResourceAsync(UntagResourceRequest request, CancellationToken cancellationToken) =>
        json.CallAsync<UntagResourceRequest, EmptyResponse>("UntagResource", request, cancellationToken);

    public Task<ListTasksResponse> ListTasksAsync(ListTasksRequest request, CancellationToken cancellationToken) =>
        json.CallAsync<ListTasksRequest, ListTasksResponse>("ListTasks", request, cancellationToken);

    public Task<DescribeTasksResponse> DescribeTasksAsync(DescribeTasksRequest request, CancellationToken cancellationToken) =>
        json.CallAsync<DescribeTasksRequest, DescribeTasksResponse>("DescribeTasks", request, cancellationToken);
}
